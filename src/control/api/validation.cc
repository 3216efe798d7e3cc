#include "control/api/validation.h"

#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "common/quantity.h"
#include "control/api/kinds.h"
#include "control/api/schema.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

std::string TypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::null:
      return "null";
    default:
      return "number";
  }
}

class Checker {
 public:
  explicit Checker(std::vector<FieldError>* errors) : errors_(errors) {}
  std::vector<FieldError>& errors() { return *errors_; }

  void Add(const std::string& pointer, const std::string& field, std::string message) {
    errors_->push_back({pointer, field, std::move(message)});
  }

  void CheckQuantity(const Json& value, const std::string& pointer, const std::string& field) {
    if (value.is_number()) {
      if (value.get<double>() < 0) Add(pointer, field, "must be greater than or equal to 0");
      return;
    }
    if (!value.is_string()) {
      Add(pointer, field,
          fmt::format("expected a quantity (for example 5Gi), got {}", TypeName(value)));
      return;
    }
    auto parsed = ParseQuantity(value.get<std::string>());
    if (!parsed.ok()) Add(pointer, field, std::string(parsed.status().message()));
  }

  void Check(const Schema& schema, const Json& value, const std::string& pointer,
             const std::string& field) {
    if (value.is_null()) return;  // null means "not set", as in the API server
    switch (schema.type) {
      case SchemaType::kAny:
        return;
      case SchemaType::kString:
        if (!value.is_string()) {
          Add(pointer, field, fmt::format("expected a string, got {}", TypeName(value)));
        } else if (!schema.values.empty() &&
                   std::find(schema.values.begin(), schema.values.end(),
                             value.get<std::string>()) == schema.values.end()) {
          std::string allowed;
          for (const std::string& v : schema.values) {
            allowed += (allowed.empty() ? "\"" : ", \"") + v + "\"";
          }
          Add(pointer, field,
              fmt::format("Unsupported value: \"{}\": supported values: {}",
                          value.get<std::string>(), allowed));
        }
        return;
      case SchemaType::kInt:
        if (!value.is_number_integer()) {
          Add(pointer, field, fmt::format("expected an integer, got {}", TypeName(value)));
        }
        return;
      case SchemaType::kBool:
        if (!value.is_boolean()) {
          Add(pointer, field, fmt::format("expected true or false, got {}", TypeName(value)));
        }
        return;
      case SchemaType::kQuantity:
        CheckQuantity(value, pointer, field);
        return;
      case SchemaType::kStringMap:
      case SchemaType::kQuantityMap:
        if (!value.is_object()) {
          Add(pointer, field, fmt::format("expected a map, got {}", TypeName(value)));
          return;
        }
        for (const auto& [key, item] : value.items()) {
          std::string child_pointer = pointer + "/" + PointerToken(key);
          std::string child_field = fmt::format("{}[{}]", field, key);
          if (schema.type == SchemaType::kQuantityMap) {
            CheckQuantity(item, child_pointer, child_field);
          } else if (!item.is_string()) {
            Add(child_pointer, child_field,
                fmt::format("expected a string, got {}; quote the value", TypeName(item)));
          }
        }
        return;
      case SchemaType::kArray:
        if (!value.is_array()) {
          Add(pointer, field, fmt::format("expected a list, got {}", TypeName(value)));
          return;
        }
        for (size_t i = 0; i < value.size(); ++i) {
          Check(*schema.items, value[i], fmt::format("{}/{}", pointer, i),
                fmt::format("{}[{}]", field, i));
        }
        return;
      case SchemaType::kObject:
        if (!value.is_object()) {
          Add(pointer, field, fmt::format("expected an object, got {}", TypeName(value)));
          return;
        }
        for (const auto& [key, item] : value.items()) {
          std::string child_field = field.empty() ? key : field + "." + key;
          std::string child_pointer = pointer + "/" + PointerToken(key);
          auto it = schema.fields.find(key);
          if (it == schema.fields.end()) {
            Add(child_pointer + "#key", child_field,
                fmt::format("unknown field \"{}\"", child_field));
            continue;
          }
          Check(*it->second, item, child_pointer, child_field);
        }
        return;
    }
  }

 private:
  std::vector<FieldError>* errors_;
};

const std::regex& SubdomainPattern() {
  static const std::regex pattern(
      "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return pattern;
}
const std::regex& LabelPattern() {
  static const std::regex pattern("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return pattern;
}

bool IsEmpty(const Json* value) {
  return value == nullptr || value->is_null() ||
         (value->is_string() && value->get<std::string>().empty());
}

// Semantic rules of each kind, checked after the structure is known to be right.
// Kept in one piece: the API server's rules per kind side by side, each
// branch short; together they show what each kind forbids.
void CheckSemantics(const Json& object, const KindInfo& kind, Checker& checker) {
  std::string name = Name(object);
  if (name.empty()) {
    checker.Add("/metadata", "metadata.name", "Required value: name is required");
  } else {
    std::string problem = kind.kind == kNamespace ? CheckLabelName(name) : CheckSubdomainName(name);
    if (!problem.empty()) {
      checker.Add("/metadata/name", "metadata.name",
                  fmt::format("Invalid value: \"{}\": {}", name, problem));
    }
  }
  // As the API server: all annotations together (keys and values) at most
  // 256 KiB, so no object can grow the state without bound.
  constexpr size_t kMaxAnnotationBytes = 256 * 1024;
  const Json* annotations = Find(object, {"metadata", "annotations"});
  if (annotations != nullptr && annotations->is_object()) {
    size_t total = 0;
    for (const auto& [key, value] : annotations->items()) {
      total += key.size() + (value.is_string() ? value.get_ref<const std::string&>().size() : 0);
    }
    if (total > kMaxAnnotationBytes) {
      checker.Add("/metadata/annotations", "metadata.annotations",
                  fmt::format("Too long: must have at most {} bytes (these have {})",
                              kMaxAnnotationBytes, total));
    }
  }
  std::string ns = Namespace(object);
  if (kind.namespaced && !ns.empty()) {
    std::string problem = CheckLabelName(ns);
    if (!problem.empty()) {
      checker.Add("/metadata/namespace", "metadata.namespace",
                  fmt::format("Invalid value: \"{}\": {}", ns, problem));
    }
  }

  if (kind.kind == kStorageClass) {
    if (IsEmpty(Find(object, {"provisioner"}))) {
      checker.Add("", "provisioner", "Required value: set the CSI driver name, e.g. ditto.csi.dev");
    }
  } else if (kind.kind == kVolumeAttributesClass) {
    if (IsEmpty(Find(object, {"driverName"}))) {
      checker.Add("", "driverName", "Required value: set the CSI driver name, e.g. ditto.csi.dev");
    }
  } else if (kind.kind == kVolumeSnapshotClass) {
    if (IsEmpty(Find(object, {"driver"}))) checker.Add("", "driver", "Required value");
    if (IsEmpty(Find(object, {"deletionPolicy"}))) {
      checker.Add("", "deletionPolicy", "Required value: Delete or Retain");
    }
  } else if (kind.kind == kPersistentVolumeClaim) {
    const Json* modes = Find(object, {"spec", "accessModes"});
    if (modes == nullptr || !modes->is_array() || modes->empty()) {
      checker.Add("/spec", "spec.accessModes",
                  "Required value: at least 1 access mode is required (e.g. ReadWriteOnce)");
    }
    const Json* storage = Find(object, {"spec", "resources", "requests", "storage"});
    if (IsEmpty(storage)) {
      checker.Add("/spec", "spec.resources[storage]",
                  "Required value: set spec.resources.requests.storage (e.g. 5Gi)");
    } else if (storage->is_string()) {
      auto bytes = ParseQuantity(storage->get<std::string>());
      if (bytes.ok() && *bytes <= 0) {
        checker.Add("/spec/resources/requests/storage", "spec.resources[storage]",
                    "Invalid value: must be greater than zero");
      }
    }
    for (const char* field : {"dataSource", "dataSourceRef"}) {
      const Json* source = Find(object, {"spec", field});
      if (source == nullptr || source->is_null()) continue;
      std::string pointer = fmt::format("/spec/{}", field);
      if (IsEmpty(Find(*source, {"kind"}))) {
        checker.Add(pointer, fmt::format("spec.{}.kind", field), "Required value");
      }
      if (IsEmpty(Find(*source, {"name"}))) {
        checker.Add(pointer, fmt::format("spec.{}.name", field), "Required value");
      }
      std::string source_kind = GetString(*source, {"kind"});
      std::string group = GetString(*source, {"apiGroup"});
      if (source_kind == "PersistentVolumeClaim" && !group.empty()) {
        checker.Add(pointer + "/apiGroup", fmt::format("spec.{}.apiGroup", field),
                    "Invalid value: PersistentVolumeClaim is in the core group; remove apiGroup");
      }
      if (source_kind == "VolumeSnapshot" && group != "snapshot.storage.k8s.io") {
        checker.Add(pointer, fmt::format("spec.{}.apiGroup", field),
                    "Required value: VolumeSnapshot needs apiGroup: snapshot.storage.k8s.io");
      }
    }
    const Json* source = Find(object, {"spec", "dataSource"});
    const Json* ref = Find(object, {"spec", "dataSourceRef"});
    if (!IsEmpty(source) && !IsEmpty(ref)) {
      if (!GetString(*ref, {"namespace"}).empty()) {
        checker.Add("/spec/dataSource", "spec.dataSource",
                    "Invalid value: may not be specified when dataSourceRef.namespace is "
                    "specified; remove spec.dataSource");
      } else if (GetString(*source, {"kind"}) != GetString(*ref, {"kind"}) ||
                 GetString(*source, {"name"}) != GetString(*ref, {"name"}) ||
                 GetString(*source, {"apiGroup"}) != GetString(*ref, {"apiGroup"})) {
        checker.Add("/spec/dataSource", "spec.dataSource",
                    "Invalid value: must match dataSourceRef");
      }
    }
  } else if (kind.kind == kVolumeSnapshot) {
    const Json* source = Find(object, {"spec", "source"});
    bool has_pvc = source != nullptr && !IsEmpty(Find(*source, {"persistentVolumeClaimName"}));
    bool has_content = source != nullptr && !IsEmpty(Find(*source, {"volumeSnapshotContentName"}));
    if (has_pvc == has_content) {
      checker.Add("/spec", "spec.source",
                  "Required value: exactly one of persistentVolumeClaimName and "
                  "volumeSnapshotContentName must be set");
    }
  } else if (kind.kind == kVolumeSnapshotContent) {
    if (IsEmpty(Find(object, {"spec", "driver"})))
      checker.Add("/spec", "spec.driver", "Required value");
    if (IsEmpty(Find(object, {"spec", "deletionPolicy"}))) {
      checker.Add("/spec", "spec.deletionPolicy", "Required value: Delete or Retain");
    }
  } else if (GroupOf(kind.api_version) == GroupOf(kGroupSnapshotApiVersion)) {
    CheckGroupSnapshotObject(object, &checker.errors());
  } else if (kind.kind == kPersistentVolume) {
    if (IsEmpty(Find(object, {"spec", "capacity", "storage"}))) {
      checker.Add("/spec", "spec.capacity", "Required value: set spec.capacity.storage");
    }
    if (Find(object, {"spec", "csi"}) == nullptr) {
      checker.Add("/spec", "spec.csi", "Required value: only CSI volumes are supported");
    }
  }
}

}  // namespace

std::string CheckSubdomainName(std::string_view name) {
  if (name.size() > 253) return "must be no more than 253 characters";
  if (!std::regex_match(std::string(name), SubdomainPattern())) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
           "'-' or '.', and must start and end with an alphanumeric character (e.g. "
           "'example.com')";
  }
  return "";
}

std::string CheckLabelName(std::string_view name) {
  if (name.size() > 63) return "must be no more than 63 characters";
  if (!std::regex_match(std::string(name), LabelPattern())) {
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
           "'-', and must start and end with an alphanumeric character (e.g. 'my-name')";
  }
  return "";
}

std::vector<FieldError> ValidateObject(const Json& object) {
  std::vector<FieldError> errors;
  Checker checker(&errors);
  if (!object.is_object()) {
    checker.Add("", "", "expected an object with apiVersion, kind and metadata");
    return errors;
  }
  std::string api_version = GetString(object, {"apiVersion"});
  std::string kind_name = GetString(object, {"kind"});
  if (api_version.empty()) checker.Add("", "apiVersion", "Required value: apiVersion is not set");
  if (kind_name.empty()) checker.Add("", "kind", "Required value: kind is not set");
  if (!errors.empty()) return errors;
  const KindInfo* kind = FindKind(kind_name);
  if (kind == nullptr || kind->kind == kEvent) {
    std::string served;
    for (const KindInfo& info : AllKinds()) {
      if (info.kind == kEvent) continue;
      served += (served.empty() ? "" : ", ") + std::string(info.kind);
    }
    checker.Add("/kind", "kind",
                fmt::format("no matches for kind \"{}\" in version \"{}\"; dittoctl serves {}",
                            kind_name, api_version, served));
    return errors;
  }
  if (api_version != kind->api_version) {
    checker.Add("/apiVersion", "apiVersion",
                fmt::format("no matches for kind \"{}\" in version \"{}\"; use apiVersion: {}",
                            kind_name, api_version, kind->api_version));
    return errors;
  }
  size_t before = errors.size();
  checker.Check(*Schemas().at(std::string(kind->kind)), object, "", "");
  if (errors.size() == before) CheckSemantics(object, *kind, checker);
  return errors;
}

Status DocumentErrors(const Document& document, const std::vector<FieldError>& errors) {
  std::string what = GetString(document.object, {"kind"}, "object");
  std::string name = Name(document.object);
  if (!name.empty()) what += fmt::format(" \"{}\"", name);
  std::string message;
  for (const FieldError& error : errors) {
    if (!message.empty()) message += "\n";
    std::string pointer = error.pointer;
    SourcePosition position = document.PositionOf(pointer);
    if (pointer.size() > 4 && pointer.ends_with("#key") && document.positions.count(pointer) == 0) {
      position = document.PositionOf(pointer.substr(0, pointer.size() - 4));
    }
    message += fmt::format("{}: {} is invalid: {}{}", position.ToString(), what,
                           error.field.empty() ? "" : error.field + ": ", error.message);
  }
  return absl::InvalidArgumentError(message);
}

void CanonicalizeQuantities(Json& object) {
  auto fix_map = [](Json* map) {
    if (map == nullptr || !map->is_object()) return;
    for (auto& [key, value] : map->items()) {
      if (value.is_number_integer()) {
        value = FormatQuantity(value.get<int64_t>());
      } else if (value.is_number_float()) {
        value = FormatQuantity(static_cast<int64_t>(std::ceil(value.get<double>())));
      }
    }
  };
  if (object.contains("spec") && object["spec"].is_object()) {
    Json& spec = object["spec"];
    if (spec.contains("resources") && spec["resources"].is_object()) {
      for (const char* part : {"requests", "limits"}) {
        if (spec["resources"].contains(part)) fix_map(&spec["resources"][part]);
      }
    }
    if (spec.contains("capacity")) fix_map(&spec["capacity"]);
  }
}

}  // namespace ditto::control
