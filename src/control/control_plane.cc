#include "control/control_plane.h"

#include "control/apiserver/admission.h"
#include "control/controllers/claims.h"
#include "control/controllers/group_snapshots.h"
#include "control/api/kinds.h"
#include "control/controllers/reconcile.h"
#include <set>

#include "fmt/format.h"

namespace ditto::control {

StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Open(const std::string& state_dir,
                                                           std::unique_ptr<CsiClient> csi,
                                                           host::Host& host) {
  std::vector<std::unique_ptr<CsiClient>> nodes;
  nodes.push_back(std::move(csi));
  return Open(state_dir, std::move(nodes), host);
}

StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Open(
    const std::string& state_dir, std::vector<std::unique_ptr<CsiClient>> nodes,
    host::Host& host) {
  if (nodes.empty()) return absl::InvalidArgumentError("the control plane needs a driver");
  if (nodes.size() > 1) {
    std::set<std::string> ids;
    std::string name;
    for (auto& node : nodes) {
      ASSIGN_OR_RETURN(DriverInfo info, node->Info());
      if (!ids.insert(info.node_id).second) {
        return absl::InvalidArgumentError(fmt::format(
            "two --endpoint drivers are both node {}; give each node's dittod once",
            info.node_id));
      }
      if (!name.empty() && info.name != name) {
        return absl::InvalidArgumentError(fmt::format(
            "the --endpoint drivers are named {} and {}; every node must run the same driver",
            name, info.name));
      }
      name = info.name;
    }
  }
  RETURN_IF_ERROR(host.MakeDirectories(state_dir, 0700));
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(state_dir + "/objects.db"));
  std::unique_ptr<ControlPlane> plane(
      new ControlPlane(std::move(store), std::move(nodes), host, state_dir));
  RETURN_IF_ERROR(plane->Initialize());
  return plane;
}

Status ControlPlane::Initialize() {
  // Each set of defaults is created once per state, under its own setting:
  // a default the user deleted stays deleted, and a state made before a set
  // existed gets that set when it is next opened.
  constexpr char kBase[] = "initialized";
  constexpr char kGroupSnapshots[] = "initialized-group-snapshots";
  bool done = true;
  RETURN_IF_ERROR(store_->Transact([&](StoreTxn& txn) -> Status {
    for (const char* key : {kBase, kGroupSnapshots}) {
      ASSIGN_OR_RETURN(auto setting, txn.GetSetting(key));
      done = done && setting.has_value();
    }
    return absl::OkStatus();
  }));
  if (done) return absl::OkStatus();
  ASSIGN_OR_RETURN(DriverInfo info, csi_->Info());
  Json defaults = Json::array(
      {{{"apiVersion", "v1"}, {"kind", kNamespace}, {"metadata", {{"name", "default"}}}},
       {{"apiVersion", "storage.k8s.io/v1"},
        {"kind", kStorageClass},
        {"metadata",
         {{"name", kDefaultStorageClassName},
          {"annotations", {{kDefaultClassAnnotation, "true"}}}}},
        {"provisioner", info.name},
        {"reclaimPolicy", "Delete"},
        {"volumeBindingMode", "Immediate"},
        {"allowVolumeExpansion", true}},
       {{"apiVersion", "snapshot.storage.k8s.io/v1"},
        {"kind", kVolumeSnapshotClass},
        {"metadata",
         {{"name", kDefaultSnapshotClassName},
          {"annotations", {{kDefaultSnapshotClassAnnotation, "true"}}}}},
        {"driver", info.name},
        {"deletionPolicy", "Delete"}}});
  Json group_defaults =
      Json::array({{{"apiVersion", kGroupSnapshotApiVersion},
                    {"kind", kVolumeGroupSnapshotClass},
                    {"metadata",
                     {{"name", kDefaultGroupSnapshotClassName},
                      {"annotations", {{kDefaultGroupSnapshotClassAnnotation, "true"}}}}},
                    {"driver", info.name},
                    {"deletionPolicy", "Delete"}}});
  return store_->Transact([&](StoreTxn& txn) -> Status {
    for (const auto& [key, objects] : {std::pair<const char*, const Json&>{kBase, defaults},
                                       {kGroupSnapshots, group_defaults}}) {
      ASSIGN_OR_RETURN(auto again, txn.GetSetting(key));
      if (again.has_value()) continue;  // this set was made before (or by another dittoctl)
      for (const Json& object : objects) {
        ASSIGN_OR_RETURN(std::optional<Json> existing,
                         txn.Get(Kind(object), Namespace(object), Name(object)));
        if (existing.has_value()) continue;
        ASSIGN_OR_RETURN(Json stored, PrepareCreate(txn, object));
        RETURN_IF_ERROR(txn.Create(stored));
      }
      RETURN_IF_ERROR(txn.PutSetting(key, NowTimestamp()));
    }
    return absl::OkStatus();
  });
}

Status ControlPlane::Reconcile() { return control::Reconcile(context_); }

StatusOr<std::vector<ApplyResult>> ControlPlane::Apply(const std::vector<Document>& documents,
                                                       const ApplyOptions& options) {
  ASSIGN_OR_RETURN(std::vector<ApplyResult> results, control::Apply(*store_, documents, options));
  RETURN_IF_ERROR(Reconcile());
  return results;
}

StatusOr<std::string> ControlPlane::Delete(const std::string& kind, const std::string& ns,
                                           const std::string& name) {
  const KindInfo* info = FindKind(kind);
  if (kind == kNamespace && name == "default") {
    // As the API server: everything that names no namespace lands there.
    return absl::FailedPreconditionError(
        "namespaces \"default\" is forbidden: this namespace may not be deleted; delete the "
        "objects in it instead (dittoctl delete pvc --all -n default)");
  }
  RETURN_IF_ERROR(store_->Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> object, txn.Get(kind, ns, name));
    if (!object.has_value()) {
      return absl::NotFoundError(fmt::format("{} \"{}\" not found", info->Resource(), name));
    }
    ASSIGN_OR_RETURN(std::string refusal, GroupMemberDeleteRefusal(txn, *object));
    if (!refusal.empty()) return absl::FailedPreconditionError(refusal);
    return MarkDeleted(txn, *object).status();
  }));
  RETURN_IF_ERROR(Reconcile());
  std::string held;
  RETURN_IF_ERROR(store_->Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> object, txn.Get(kind, ns, name));
    if (!object.has_value()) return absl::OkStatus();
    if (kind == kPersistentVolumeClaim) {
      ASSIGN_OR_RETURN(held, ClaimHeldBy(txn, *object));
    }
    if (kind == kNamespace) {
      std::string remaining;
      for (const KindInfo& content : AllKinds()) {
        if (!content.namespaced || content.kind == kEvent) continue;
        ASSIGN_OR_RETURN(std::vector<Json> objects, txn.List(std::string(content.kind), name));
        for (const Json& item : objects) {
          std::string why;
          if (content.kind == kPersistentVolumeClaim) {
            ASSIGN_OR_RETURN(why, ClaimHeldBy(txn, item));
          }
          remaining += fmt::format("{}{}{}", remaining.empty() ? "" : "; ",
                                   content.Ref(Name(item)), why.empty() ? "" : " (" + why + ")");
        }
      }
      held = fmt::format("waiting for the objects in it to be deleted: {}", remaining);
    }
    if (held.empty()) {
      std::string finalizers;
      for (const Json& f : object->at("metadata").value("finalizers", Json::array())) {
        finalizers += (finalizers.empty() ? "" : ", ") + f.get<std::string>();
      }
      held = fmt::format("waiting for finalizers: {}", finalizers);
    }
    return absl::OkStatus();
  }));
  return held;
}

}  // namespace ditto::control
