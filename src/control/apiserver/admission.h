// What the API server does to an object on its way into the store: defaults
// and system finalizers on create (admission), and the immutability and
// resize rules on update.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "control/api/object.h"
#include "control/apiserver/store.h"
#include "control/api/validation.h"

namespace ditto::control {

// `object` as it is stored when first created: user-settable fields kept,
// server-set metadata and status dropped, defaults and system finalizers
// added (pvc-protection, pv-protection, the default StorageClass for a claim
// that names none, ...).
StatusOr<Json> PrepareCreate(StoreTxn& txn, const Json& object);

// The stored object after applying `object` over `existing`, or the
// API server's error: Aborted on a stale resourceVersion or another UID;
// InvalidArgument (with the field in `*error`) for an immutable field or a
// forbidden resize.
StatusOr<Json> PrepareUpdate(StoreTxn& txn, const Json& existing, const Json& object,
                             FieldError* error);

// The default StorageClass (annotation storageclass.kubernetes.io/
// is-default-class: "true"; the newest when several), or nullopt.
StatusOr<std::optional<Json>> DefaultStorageClass(StoreTxn& txn);

}  // namespace ditto::control
