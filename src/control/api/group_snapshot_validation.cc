// The group snapshot kinds as objects: their validation rules, their table
// columns and the refusal to delete one member of a group on its own.
#include "control/group_snapshots.h"
#include "control/kinds.h"
#include "control/label_selector.h"
#include "control/printer_columns.h"
#include "control/printers.h"
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

StatusOr<std::string> GroupMemberDeleteRefusal(StoreTxn& txn, const Json& object) {
  std::optional<Json> snapshot;
  if (Kind(object) == kVolumeSnapshot) {
    snapshot = object;
  } else if (Kind(object) == kVolumeSnapshotContent &&
             !GetAnnotation(object, kGroupSnapshotHandleAnnotation).empty()) {
    ASSIGN_OR_RETURN(
        snapshot,
        txn.Get(kVolumeSnapshot, GetString(object, {"spec", "volumeSnapshotRef", "namespace"}),
                GetString(object, {"spec", "volumeSnapshotRef", "name"})));
  }
  if (!snapshot.has_value() || !HasFinalizer(*snapshot, kSnapshotInGroupFinalizer)) return "";
  std::string group_name = GetString(*snapshot, {"metadata", "labels", kGroupSnapshotNameLabel});
  ASSIGN_OR_RETURN(std::optional<Json> group,
                   txn.Get(kVolumeGroupSnapshot, Namespace(*snapshot), group_name));
  if (!group.has_value() || IsBeingDeleted(*group)) return "";
  return fmt::format(
      "deletion of the individual volume snapshot {} is not allowed as it belongs to group "
      "snapshot {}; delete the group snapshot (dittoctl delete volumegroupsnapshot {} -n {}) to "
      "delete all its members",
      Key(*snapshot), Key(*group), Name(*group), Namespace(*group));
}

std::vector<Column> GroupSnapshotColumns(std::string_view kind, int64_t now_ns) {
  // A column of the value at `path` (object keys) of each object.
  auto field = [](std::string header, std::vector<std::string> path) {
    return Column{std::move(header), [path](const Json& object) {
                    const Json* value = &object;
                    for (const std::string& key : path) {
                      if (!value->is_object() || !value->contains(key)) return std::string();
                      value = &(*value)[key];
                    }
                    return ScalarText(value);
                  }};
  };
  Column ready = field("READYTOUSE", {"status", "readyToUse"});
  Column group_class = field("VOLUMEGROUPSNAPSHOTCLASS", {"spec", "volumeGroupSnapshotClassName"});
  Column age{"AGE", [now_ns](const Json& o) { return Age(o, now_ns); }};
  if (kind == kVolumeGroupSnapshot) {
    return {ready,
            group_class,
            field("VOLUMEGROUPSNAPSHOTCONTENT", {"status", "boundVolumeGroupSnapshotContentName"}),
            {"CREATIONTIME",
             [now_ns](const Json& o) {
               int64_t t = ParseTimestamp(GetString(o, {"status", "creationTime"}));
               return t == 0 ? std::string() : FormatAge(now_ns - t);
             }},
            age};
  }
  if (kind == kVolumeGroupSnapshotContent) {
    return {ready,
            field("DELETIONPOLICY", {"spec", "deletionPolicy"}),
            field("DRIVER", {"spec", "driver"}),
            group_class,
            field("VOLUMEGROUPSNAPSHOTNAMESPACE", {"spec", "volumeGroupSnapshotRef", "namespace"}),
            field("VOLUMEGROUPSNAPSHOT", {"spec", "volumeGroupSnapshotRef", "name"}),
            age};
  }
  return {};
}

}  // namespace ditto::control
