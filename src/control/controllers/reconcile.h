// Runs the controllers to quiescence. dittoctl has no long-running
// controller manager: every command ends by reconciling until a full pass
// changes nothing, so Pending claims are retried whenever dittoctl runs.
#pragma once

#include "common/status.h"
#include "control/controllers/context.h"

namespace ditto::control {

// Marks `object` deleted as the API server does: with finalizers it gets a
// deletionTimestamp (Terminating) and stays; without, it is removed now.
// Returns whether it was removed.
StatusOr<bool> MarkDeleted(StoreTxn& txn, Json object);

// Namespaces being deleted: delete what is in them, then the namespace.
StatusOr<bool> ReconcileNamespaces(ControllerContext& ctx);

// Runs claims, volumes, snapshots and namespaces controllers until one
// full pass changes nothing (bounded, to stop a controller that flaps).
Status Reconcile(ControllerContext& ctx);

}  // namespace ditto::control
