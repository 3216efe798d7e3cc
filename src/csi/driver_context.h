// What the Identity, Controller and Node services share inside one Driver.
#pragma once

#include "csi/driver.h"
#include "csi/rpc_observer.h"
#include "host/host.h"
#include "peer/transfers.h"
#include "pool/operation_locks.h"
#include "pool/pool.h"

namespace ditto::csi {

struct DriverContext {
  host::Host& host;
  pool::Pool& pool;
  const DriverOptions& options;
  RpcObserver& observer;
  // CSI-level try-locks spanning the controller and node services: keys
  // "vol:<id>", "snap:<id>", "name:<volume name>", "snapname:<snapshot name>".
  // The pool has its own locks underneath; these cover the checks the
  // services make before calling it (e.g. DeleteVolume vs NodeStageVolume).
  pool::OperationLocks& locks;
  // Copies from other nodes; null when dittod has no peers.
  peer::Transfers* transfers = nullptr;
};

}  // namespace ditto::csi
