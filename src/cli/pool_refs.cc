#include "cli/pool_refs.h"

#include "control/api/kinds.h"
#include "control/apiserver/store.h"
#include "fmt/format.h"

namespace ditto::cli {
namespace {

// The store of `state_dir`, or nullptr when it holds nothing (never created here).
StatusOr<std::unique_ptr<control::Store>> OpenStore(host::Host& host, const std::string& state_dir) {
  std::string path = state_dir + "/objects.db";
  if (!host.Stat(path).ok()) return std::unique_ptr<control::Store>();
  return control::Store::Open(path);
}

}  // namespace

StatusOr<std::string> ResolveVolumeRef(host::Host& host, const std::string& state_dir,
                                       const std::string& ref, const std::string& ns) {
  size_t slash = ref.find('/');
  std::string claim;
  if (slash != std::string::npos) {
    const control::KindInfo* kind = control::ResolveKind(ref.substr(0, slash));
    if (kind == nullptr || (kind->kind != control::kPersistentVolumeClaim &&
                            kind->kind != control::kPersistentVolume)) {
      return absl::InvalidArgumentError(fmt::format(
          "\"{}\": name a volume by its ID, its PersistentVolume name, pv/NAME or pvc/NAME (with "
          "-n NAMESPACE)",
          ref));
    }
    if (kind->kind == control::kPersistentVolumeClaim) claim = ref.substr(slash + 1);
  }
  std::string pv_name = slash == std::string::npos ? ref : ref.substr(slash + 1);
  ASSIGN_OR_RETURN(auto store, OpenStore(host, state_dir));
  if (store == nullptr) {
    if (slash == std::string::npos) return ref;  // a volume ID
    return absl::NotFoundError(fmt::format(
        "{} holds no Kubernetes objects, so \"{}\" names nothing; give the volume ID (dittoctl "
        "volume list) or the --state the claim lives in",
        state_dir, ref));
  }
  std::string id;
  RETURN_IF_ERROR(store->Transact([&](control::StoreTxn& txn) -> Status {
    if (!claim.empty()) {
      ASSIGN_OR_RETURN(auto object, txn.Get(control::kPersistentVolumeClaim, ns, claim));
      if (!object.has_value()) {
        return absl::NotFoundError(fmt::format(
            "persistentvolumeclaims \"{}\" not found in namespace {} (of --state {}); pass -n "
            "NAMESPACE",
            claim, ns, state_dir));
      }
      pv_name = control::GetString(*object, {"spec", "volumeName"});
      if (pv_name.empty()) {
        return absl::FailedPreconditionError(fmt::format(
            "PVC {}/{} is not bound to a volume yet (dittoctl describe pvc {} -n {})", ns, claim,
            claim, ns));
      }
    }
    ASSIGN_OR_RETURN(auto volume, txn.Get(control::kPersistentVolume, "", pv_name));
    if (volume.has_value()) {
      id = control::GetString(*volume, {"spec", "csi", "volumeHandle"});
    } else if (slash != std::string::npos) {
      return absl::NotFoundError(
          fmt::format("persistentvolumes \"{}\" not found (of --state {})", pv_name, state_dir));
    } else {
      id = ref;  // not a PV name: a volume ID
    }
    return absl::OkStatus();
  }));
  return id;
}

StatusOr<std::optional<VolumeUser>> FindVolumeUser(host::Host& host, const std::string& state_dir,
                                                   const std::string& id) {
  ASSIGN_OR_RETURN(auto store, OpenStore(host, state_dir));
  std::optional<VolumeUser> user;
  if (store == nullptr) return user;
  RETURN_IF_ERROR(store->Transact([&](control::StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(auto volumes, txn.List(control::kPersistentVolume, ""));
    for (const auto& volume : volumes) {
      if (control::GetString(volume, {"spec", "csi", "volumeHandle"}) != id) continue;
      VolumeUser found;
      found.volume_name = control::Name(volume);
      found.phase = control::GetString(volume, {"status", "phase"});
      std::string claim = control::GetString(volume, {"spec", "claimRef", "name"});
      if (!claim.empty()) {
        found.claim = control::GetString(volume, {"spec", "claimRef", "namespace"}) + "/" + claim;
      }
      user = found;
    }
    return absl::OkStatus();
  }));
  return user;
}

}  // namespace ditto::cli
