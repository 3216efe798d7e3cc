#include "control/apiserver/admission.h"

#include "common/quantity.h"
#include "control/api/kinds.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

// The parts of metadata a user may set.
Json UserMetadata(const Json& object) {
  Json metadata = Json::object();
  const Json& source = object.value("metadata", Json::object());
  for (const char* key : {"name", "namespace", "labels", "annotations", "finalizers"}) {
    if (source.contains(key) && !source[key].is_null()) metadata[key] = source[key];
  }
  return metadata;
}

// dataSource and dataSourceRef mirror each other when only one is given
// (and the ref is not cross-namespace), as the API server does.
void SyncDataSources(Json& spec) {
  bool has_source = spec.contains("dataSource") && spec["dataSource"].is_object();
  bool has_ref = spec.contains("dataSourceRef") && spec["dataSourceRef"].is_object();
  if (has_source && !has_ref) {
    spec["dataSourceRef"] = spec["dataSource"];
  } else if (has_ref && !has_source && GetString(spec["dataSourceRef"], {"namespace"}).empty()) {
    spec["dataSource"] = spec["dataSourceRef"];
  }
}

void DefaultClaimSpec(Json& spec) {
  if (!spec.contains("volumeMode") || spec["volumeMode"].is_null())
    spec["volumeMode"] = "Filesystem";
  SyncDataSources(spec);
  for (auto it = spec.begin(); it != spec.end();) {
    it = it->is_null() ? spec.erase(it) : std::next(it);
  }
}

FieldError Forbidden(std::string pointer, std::string field, std::string message) {
  return FieldError{std::move(pointer), std::move(field), std::move(message)};
}

}  // namespace

StatusOr<std::optional<Json>> DefaultStorageClass(StoreTxn& txn) {
  ASSIGN_OR_RETURN(std::vector<Json> classes, txn.List(kStorageClass, ""));
  std::optional<Json> chosen;
  for (Json& storage_class : classes) {
    if (GetAnnotation(storage_class, kDefaultClassAnnotation) != "true") continue;
    if (!chosen.has_value() || GetString(storage_class, {"metadata", "creationTimestamp"}) >=
                                   GetString(*chosen, {"metadata", "creationTimestamp"})) {
      chosen = std::move(storage_class);
    }
  }
  return chosen;
}

StatusOr<Json> PrepareCreate(StoreTxn& txn, const Json& object) {
  Json stored = object;
  stored["metadata"] = UserMetadata(object);
  stored.erase("status");
  std::string kind = Kind(object);
  if (kind == kPersistentVolumeClaim) {
    Json& spec = stored["spec"];
    DefaultClaimSpec(spec);
    if (!spec.contains("storageClassName")) {
      ASSIGN_OR_RETURN(std::optional<Json> default_class, DefaultStorageClass(txn));
      if (default_class.has_value()) spec["storageClassName"] = Name(*default_class);
    }
    AddFinalizer(stored, kPvcProtectionFinalizer);
    stored["status"] = {{"phase", "Pending"}};
  } else if (kind == kPersistentVolume) {
    Json& spec = stored["spec"];
    if (!spec.contains("persistentVolumeReclaimPolicy"))
      spec["persistentVolumeReclaimPolicy"] = "Retain";
    if (!spec.contains("volumeMode")) spec["volumeMode"] = "Filesystem";
    AddFinalizer(stored, kPvProtectionFinalizer);
    stored["status"] = {{"phase", "Pending"}};
  } else if (kind == kStorageClass) {
    if (!stored.contains("reclaimPolicy")) stored["reclaimPolicy"] = "Delete";
    if (!stored.contains("volumeBindingMode")) stored["volumeBindingMode"] = "Immediate";
  } else if (kind == kNamespace) {
    stored["spec"] = {{"finalizers", {kNamespaceFinalizer}}};
    stored["status"] = {{"phase", "Active"}};
  } else if (kind == kVolumeSnapshotContent) {
    AddFinalizer(stored, kSnapshotContentFinalizer);
  } else if (kind == kVolumeGroupSnapshotContent) {
    AddFinalizer(stored, kGroupSnapshotContentFinalizer);
  }
  return stored;
}

// Kept in one piece: the kinds' update strategies side by side (one short
// branch per kind): which fields each kind lets change.
StatusOr<Json> PrepareUpdate(StoreTxn& txn, const Json& existing, const Json& object,
                             FieldError* error) {
  std::string name = Name(existing);
  std::string kind = Kind(existing);
  std::string given_version = GetString(object, {"metadata", "resourceVersion"});
  if (!given_version.empty() &&
      given_version != GetString(existing, {"metadata", "resourceVersion"})) {
    return absl::AbortedError(fmt::format(
        "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply "
        "your changes to the latest version and try again (or remove metadata.resourceVersion "
        "from the file)",
        FindKind(kind)->Resource(), name));
  }
  std::string given_uid = GetString(object, {"metadata", "uid"});
  if (!given_uid.empty() && given_uid != Uid(existing)) {
    return absl::AbortedError(
        fmt::format("Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    given_uid, Uid(existing)));
  }
  Json updated = existing;
  const Json& metadata = object.value("metadata", Json::object());
  if (metadata.contains("labels")) updated["metadata"]["labels"] = metadata["labels"];
  if (metadata.contains("annotations") && metadata["annotations"].is_object()) {
    for (const auto& [key, value] : metadata["annotations"].items()) {
      updated["metadata"]["annotations"][key] = value;
    }
  }
  auto immutable = [&](const char* field, const std::string& pointer) -> bool {
    Json before = existing.value(field, Json());
    Json after = object.value(field, Json());
    if (before == after) return false;
    *error = Forbidden(pointer, field,
                       fmt::format("Forbidden: updates to {} are forbidden; delete and recreate "
                                   "the {} to change it",
                                   field, kind));
    return true;
  };

  if (kind == kPersistentVolumeClaim) {
    Json spec = object.value("spec", Json::object());
    const Json& old_spec = existing["spec"];
    DefaultClaimSpec(spec);
    for (const char* kept : {"storageClassName", "volumeName"}) {
      if (!spec.contains(kept) && old_spec.contains(kept)) spec[kept] = old_spec[kept];
    }
    // spec.volumeAttributesClassName may change (the claim is modified to the
    // new class), but not back to unset, as the API server rules.
    if (old_spec.contains("volumeAttributesClassName") &&
        GetString(spec, {"volumeAttributesClassName"}).empty()) {
      *error = Forbidden("/spec/volumeAttributesClassName", "spec.volumeAttributesClassName",
                         "Forbidden: update from non-nil value to nil is forbidden; name another "
                         "VolumeAttributesClass instead");
      return absl::InvalidArgumentError("immutable");
    }
    Json spec_without = spec, old_without = old_spec;
    spec_without.erase("resources");
    old_without.erase("resources");
    spec_without.erase("volumeAttributesClassName");
    old_without.erase("volumeAttributesClassName");
    bool bound = !GetString(existing, {"spec", "volumeName"}).empty();
    if (spec_without != old_without ||
        (!bound && spec.value("resources", Json()) != old_spec.value("resources", Json()))) {
      *error = Forbidden("/spec", "spec",
                         "Forbidden: spec is immutable after creation except resources.requests "
                         "for bound claims; delete and recreate the PVC to change it");
      return absl::InvalidArgumentError("immutable");
    }
    int64_t before = RequestedBytes(existing);
    int64_t after = QuantityAt(spec, {"resources", "requests", "storage"});
    if (after < before) {
      *error = Forbidden("/spec/resources/requests/storage", "spec.resources.requests.storage",
                         fmt::format("Forbidden: field can not be less than previous value ({})",
                                     FormatQuantity(before)));
      return absl::InvalidArgumentError("shrink");
    }
    if (after > before) {
      std::string class_name = GetString(existing, {"spec", "storageClassName"});
      ASSIGN_OR_RETURN(std::optional<Json> storage_class, txn.Get(kStorageClass, "", class_name));
      if (!storage_class.has_value() || !GetBool(*storage_class, {"allowVolumeExpansion"})) {
        *error = Forbidden(
            "/spec/resources/requests/storage", "spec.resources.requests.storage",
            fmt::format("Forbidden: only dynamically provisioned pvc can be resized and the "
                        "storageclass that provisions the pvc must support resize; set "
                        "allowVolumeExpansion: true on StorageClass \"{}\"",
                        class_name));
        return absl::InvalidArgumentError("resize");
      }
    }
    updated["spec"] = spec;
  } else if (kind == kStorageClass) {
    for (const char* field : {"parameters", "provisioner", "reclaimPolicy", "volumeBindingMode"}) {
      Json after = object.value(field, Json());
      if (after.is_null() &&
          (std::string(field) == "reclaimPolicy" || std::string(field) == "volumeBindingMode")) {
        continue;  // omitted: the default stays
      }
      if (immutable(field, std::string("/") + field))
        return absl::InvalidArgumentError("immutable");
    }
    for (const char* field : {"allowVolumeExpansion", "mountOptions", "allowedTopologies"}) {
      if (object.contains(field)) {
        updated[field] = object[field];
      } else {
        updated.erase(field);
      }
    }
  } else if (kind == kVolumeAttributesClass) {
    for (const char* field : {"parameters", "driverName"}) {
      if (immutable(field, std::string("/") + field))
        return absl::InvalidArgumentError("immutable");
    }
  } else if (kind == kVolumeSnapshotClass || kind == kVolumeGroupSnapshotClass) {
    for (const char* field : {"parameters", "driver"}) {
      if (immutable(field, std::string("/") + field))
        return absl::InvalidArgumentError("immutable");
    }
    updated["deletionPolicy"] = object["deletionPolicy"];
  } else if (kind == kVolumeSnapshot || kind == kVolumeGroupSnapshot || kind == kReferenceGrant) {
    Json spec = object.value("spec", Json::object());
    if (kind != kReferenceGrant) {
      // The snapshot controller fills in the default class: keep it.
      const char* class_field =
          kind == kVolumeSnapshot ? "volumeSnapshotClassName" : "volumeGroupSnapshotClassName";
      const Json& old_spec = existing["spec"];
      if (spec.is_object() && !spec.contains(class_field) && old_spec.contains(class_field)) {
        spec[class_field] = old_spec[class_field];
      }
      if (spec != existing.value("spec", Json())) {
        *error = Forbidden("/spec", "spec",
                           fmt::format("Forbidden: updates to spec are forbidden; delete and "
                                       "recreate the {} to change it",
                                       kind));
        return absl::InvalidArgumentError("immutable");
      }
    }
    updated["spec"] = spec;
  } else if (kind == kVolumeSnapshotContent || kind == kVolumeGroupSnapshotContent) {
    Json spec = object.value("spec", Json::object());
    Json old_spec = existing["spec"];
    std::string policy = GetString(spec, {"deletionPolicy"});
    spec.erase("deletionPolicy");
    old_spec.erase("deletionPolicy");
    // The controllers fill in the UID of the bound object (and the class of
    // a group content): those may be left out.
    const char* ref_field =
        kind == kVolumeSnapshotContent ? "volumeSnapshotRef" : "volumeGroupSnapshotRef";
    spec[ref_field].erase("uid");
    old_spec[ref_field].erase("uid");
    if (kind == kVolumeGroupSnapshotContent && !spec.contains("volumeGroupSnapshotClassName")) {
      old_spec.erase("volumeGroupSnapshotClassName");
    }
    if (spec != old_spec) {
      *error =
          Forbidden("/spec", "spec",
                    fmt::format("Forbidden: only spec.deletionPolicy of a {} can change", kind));
      return absl::InvalidArgumentError("immutable");
    }
    updated["spec"]["deletionPolicy"] = policy;
  } else if (kind == kPersistentVolume) {
    Json spec = object.value("spec", Json::object());
    if (spec.value("csi", Json()) != existing["spec"].value("csi", Json())) {
      *error = Forbidden("/spec/csi", "spec.persistentvolumesource",
                         "Forbidden: spec.persistentvolumesource is immutable after creation");
      return absl::InvalidArgumentError("immutable");
    }
    for (const auto& [key, value] : spec.items()) updated["spec"][key] = value;
  }
  return updated;
}

}  // namespace ditto::control
