// The embedded control plane as dittoctl uses it: the object store in the
// state directory, a CSI client (in-process driver or dittod's socket) and
// the controllers. Opening it the first time creates the `default`
// namespace, the default StorageClass `ditto`, VolumeSnapshotClass `ditto`
// and VolumeGroupSnapshotClass `ditto` (the names deploy/kubernetes uses)
// for the driver it talks to.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "control/apiserver/apply.h"
#include "control/controllers/context.h"
#include "control/controllers/csi_client.h"
#include "control/apiserver/store.h"
#include "host/host.h"

namespace ditto::control {

inline constexpr char kDefaultStorageClassName[] = "ditto";
inline constexpr char kDefaultSnapshotClassName[] = "ditto";
inline constexpr char kDefaultGroupSnapshotClassName[] = "ditto";

class ControlPlane {
 public:
  // Opens STATE_DIR/objects.db (creating the directory and the defaults).
  static StatusOr<std::unique_ptr<ControlPlane>> Open(const std::string& state_dir,
                                                      std::unique_ptr<CsiClient> csi,
                                                      host::Host& host);
  // The same over several nodes, one driver each (`nodes` not empty; the
  // first is the default: claims no node is chosen for go there).
  // InvalidArgument when two drivers are the same node or differ in name.
  static StatusOr<std::unique_ptr<ControlPlane>> Open(
      const std::string& state_dir, std::vector<std::unique_ptr<CsiClient>> nodes,
      host::Host& host);

  Store& store() { return *store_; }
  CsiClient& csi() { return *csi_; }
  ControllerContext& context() { return context_; }

  // Runs the controllers until nothing changes.
  Status Reconcile();
  // Apply (all-or-nothing), then reconcile.
  StatusOr<std::vector<ApplyResult>> Apply(const std::vector<Document>& documents,
                                           const ApplyOptions& options);
  // Deletes one object (Terminating while finalizers hold it), then
  // reconciles. Returns "" when it is gone, else why it is still there.
  StatusOr<std::string> Delete(const std::string& kind, const std::string& ns,
                               const std::string& name);

 private:
  ControlPlane(std::unique_ptr<Store> store, std::vector<std::unique_ptr<CsiClient>> nodes,
               host::Host& host, const std::string& state_dir)
      : store_(std::move(store)),
        nodes_(std::move(nodes)),
        csi_(nodes_.front().get()),
        context_{*store_, *csi_, host, state_dir} {
    for (auto& node : nodes_) context_.nodes.push_back(node.get());
  }
  Status Initialize();

  std::unique_ptr<Store> store_;
  std::vector<std::unique_ptr<CsiClient>> nodes_;
  CsiClient* csi_;
  ControllerContext context_;
};

}  // namespace ditto::control
