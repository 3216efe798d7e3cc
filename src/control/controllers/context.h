// What every controller works with: the object store, the CSI drivers (one
// per node; the first is the default) and the host (for the node-side paths
// the CO owns), plus small shared helpers.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "control/controllers/csi_client.h"
#include "control/api/object.h"
#include "control/apiserver/store.h"
#include "host/host.h"

namespace ditto::control {

// Event sources, as the Kubernetes components name themselves.
inline constexpr char kPvControllerSource[] = "persistentvolume-controller";
inline constexpr char kResizerSource[] = "external-resizer";
inline constexpr char kSnapshotControllerSource[] = "snapshot-controller";
inline constexpr char kPvcProtectionSource[] = "pvc-protection-controller";

struct ControllerContext {
  Store& store;
  CsiClient& csi;  // the default node's driver
  host::Host& host;
  std::string state_dir;
  // Every node's driver, the default one first; empty: `csi` alone.
  std::vector<CsiClient*> nodes;

  // The driver of the node that made volume or snapshot `handle` (the node
  // whose tag, common/ids.h, the ID carries), as the provisioner, snapshotter
  // and kubelet of that node act for it in a cluster; else the default.
  CsiClient& CsiFor(std::string_view handle);
  // The driver of node `node_id`. NotFound naming the nodes driven when
  // none is that node.
  StatusOr<CsiClient*> CsiOfNode(const std::string& node_id);

  // "<driver>_external-provisioner", the provisioner's event source.
  std::string ProvisionerSource(const DriverInfo& info) const;
  // "csi-snapshotter <driver>", the snapshotter sidecar's event source.
  std::string SnapshotterSource(const DriverInfo& info) const;
  std::string StagingPath(const std::string& volume_name) const;
};

// The outcome of one controller pass over many objects: whether any
// changed. Aborted (an object changed under us) counts as a change, so the
// pass runs again; any other error ends it.
class PassOutcome {
 public:
  Status Absorb(const StatusOr<bool>& result) {
    if (absl::IsAborted(result.status())) {
      changed_ = true;
      return absl::OkStatus();
    }
    if (!result.ok()) return result.status();
    changed_ = changed_ || *result;
    return absl::OkStatus();
  }
  bool changed() const { return changed_; }

 private:
  bool changed_ = false;
};

// Reads one object in its own transaction.
StatusOr<std::optional<Json>> GetObject(Store& store, const std::string& kind,
                                        const std::string& ns, const std::string& name);
StatusOr<std::vector<Json>> ListObjects(Store& store, const std::string& kind,
                                        const std::string& ns = "", bool all_namespaces = true);
// Writes `object` back (optimistic; Aborted when it changed meanwhile).
Status UpdateObject(Store& store, Json& object);
// Records an event in its own transaction; failures are ignored (events are
// best effort, as in Kubernetes).
void RecordEvent(Store& store, const Json& involved, const std::string& type,
                 const std::string& reason, const std::string& message, const std::string& source);
// A Warning event about `object` and status.error (with status.readyToUse
// false) on it, as the snapshot controllers report a failure; the status is
// written only when its message changes.
Status FailWithStatusError(ControllerContext& ctx, const Json& object, const std::string& reason,
                           const std::string& message, const std::string& source);

}  // namespace ditto::control
