#include "control/controllers/reconcile.h"

#include "control/controllers/claims.h"
#include "control/controllers/group_snapshots.h"
#include "control/api/kinds.h"
#include "control/controllers/snapshots.h"
#include "control/controllers/volumes.h"
#include "fmt/format.h"

namespace ditto::control {

StatusOr<bool> MarkDeleted(StoreTxn& txn, Json object) {
  const Json* finalizers = Find(object, {"metadata", "finalizers"});
  // A namespace is held by spec.finalizers ("kubernetes") until the
  // namespace controller has removed everything in it.
  const Json* spec_finalizers = Find(object, {"spec", "finalizers"});
  bool held = (finalizers != nullptr && !finalizers->empty()) ||
              (Kind(object) == kNamespace && spec_finalizers != nullptr &&
               !spec_finalizers->empty());
  if (!held) {
    RETURN_IF_ERROR(txn.Remove(Kind(object), Namespace(object), Name(object)));
    return true;
  }
  if (IsBeingDeleted(object)) return false;
  object["metadata"]["deletionTimestamp"] = NowTimestamp();
  object["metadata"]["deletionGracePeriodSeconds"] = 0;
  if (Kind(object) == kNamespace) object["status"]["phase"] = "Terminating";
  RETURN_IF_ERROR(txn.Update(object));
  return false;
}

StatusOr<bool> ReconcileNamespaces(ControllerContext& ctx) {
  ASSIGN_OR_RETURN(std::vector<Json> namespaces, ListObjects(ctx.store, kNamespace));
  bool changed = false;
  for (const Json& ns : namespaces) {
    if (!IsBeingDeleted(ns)) continue;
    RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
      bool empty = true;
      for (const KindInfo& kind : AllKinds()) {
        if (!kind.namespaced || kind.kind == kEvent) continue;
        ASSIGN_OR_RETURN(std::vector<Json> objects, txn.List(std::string(kind.kind), Name(ns)));
        for (Json& object : objects) {
          empty = false;
          if (!IsBeingDeleted(object)) {
            ASSIGN_OR_RETURN(bool removed, MarkDeleted(txn, object));
            (void)removed;
            changed = true;
          }
        }
      }
      if (empty) {
        RETURN_IF_ERROR(txn.Remove(kNamespace, "", Name(ns)));
        changed = true;
      }
      return absl::OkStatus();
    }));
  }
  return changed;
}

Status Reconcile(ControllerContext& ctx) {
  ASSIGN_OR_RETURN(DriverInfo info, ctx.csi.Info());
  constexpr int kMaxPasses = 20;
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    bool changed = false;
    ASSIGN_OR_RETURN(bool namespaces, ReconcileNamespaces(ctx));
    ASSIGN_OR_RETURN(bool claims, ReconcileClaims(ctx, info));
    ASSIGN_OR_RETURN(bool snapshots, ReconcileSnapshots(ctx, info));
    ASSIGN_OR_RETURN(bool groups, ReconcileGroupSnapshots(ctx, info));
    ASSIGN_OR_RETURN(bool volumes, ReconcileVolumes(ctx, info));
    changed = namespaces || claims || snapshots || groups || volumes;
    if (!changed) return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace ditto::control
