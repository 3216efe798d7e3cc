// The rules of the group snapshot kinds beyond their schema.
#include "control/api/kinds.h"
#include "control/api/label_selector.h"
#include "control/api/validation.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

bool IsSet(const Json& object, std::initializer_list<std::string_view> path) {
  const Json* value = Find(object, path);
  if (value == nullptr || value->is_null()) return false;
  if (value->is_string() || value->is_array() || value->is_object()) return !value->empty();
  return true;
}

void Require(const Json& object, std::initializer_list<std::string_view> path,
             const std::string& pointer, const std::string& field, const std::string& hint,
             std::vector<FieldError>* errors) {
  if (!IsSet(object, path)) {
    errors->push_back({pointer, field, "Required value" + (hint.empty() ? "" : ": " + hint)});
  }
}

}  // namespace

void CheckGroupSnapshotObject(const Json& object, std::vector<FieldError>* errors) {
  std::string kind = Kind(object);
  if (kind == kVolumeGroupSnapshotClass) {
    Require(object, {"driver"}, "", "driver", "set the CSI driver name, e.g. ditto.csi.dev",
            errors);
    Require(object, {"deletionPolicy"}, "", "deletionPolicy", "Delete or Retain", errors);
  } else if (kind == kVolumeGroupSnapshot) {
    const Json* selector = Find(object, {"spec", "source", "selector"});
    bool has_selector = selector != nullptr && !selector->is_null();
    bool has_content = IsSet(object, {"spec", "source", "volumeGroupSnapshotContentName"});
    if (has_selector == has_content) {
      errors->push_back({"/spec", "spec.source",
                         "Invalid value: exactly one of selector and "
                         "volumeGroupSnapshotContentName must be set"});
    } else if (has_selector) {
      auto parsed = LabelSelector::FromJson(*selector, "spec.source.selector");
      if (!parsed.ok()) {
        errors->push_back({"/spec/source/selector", "spec.source.selector",
                           std::string(parsed.status().message())});
      }
    }
  } else if (kind == kVolumeGroupSnapshotContent) {
    Require(object, {"spec", "driver"}, "/spec", "spec.driver", "", errors);
    Require(object, {"spec", "deletionPolicy"}, "/spec", "spec.deletionPolicy", "Delete or Retain",
            errors);
    for (const char* part : {"name", "namespace"}) {
      Require(object, {"spec", "volumeGroupSnapshotRef", part}, "/spec",
              fmt::format("spec.volumeGroupSnapshotRef.{}", part),
              "name the VolumeGroupSnapshot this content belongs to", errors);
    }
    bool has_volumes = IsSet(object, {"spec", "source", "volumeHandles"});
    bool has_group = IsSet(object, {"spec", "source", "groupSnapshotHandles"});
    if (has_volumes == has_group) {
      errors->push_back({"/spec", "spec.source",
                         "Invalid value: exactly one of volumeHandles and groupSnapshotHandles "
                         "must be set"});
    } else if (has_group) {
      Require(object, {"spec", "source", "groupSnapshotHandles", "volumeGroupSnapshotHandle"},
              "/spec/source/groupSnapshotHandles",
              "spec.source.groupSnapshotHandles.volumeGroupSnapshotHandle", "", errors);
      Require(object, {"spec", "source", "groupSnapshotHandles", "volumeSnapshotHandles"},
              "/spec/source/groupSnapshotHandles",
              "spec.source.groupSnapshotHandles.volumeSnapshotHandles",
              "list the snapshot IDs of the group's members", errors);
    }
  }
}

}  // namespace ditto::control
