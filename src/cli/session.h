// One dittoctl command's connection to the control plane: the object store
// in the state directory plus the CSI driver — run in-process (its pool in
// STATE/pool, served over a gRPC in-process channel) or reached at
// --endpoint, once per node when it drives several. Either way the control
// plane only speaks CSI to it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "control/control_plane.h"
#include "csi/driver.h"
#include "host/linux_host.h"

namespace ditto::cli {

struct GlobalFlags {
  std::string state_dir = "/var/lib/ditto";
  // dittod endpoints, one per node, the first the default; none = the
  // in-process driver.
  std::vector<std::string> endpoints;
  std::string node_id;   // "" = the hostname
  std::string driver_name = "ditto.csi.dev";
  std::string pool_size = "20Gi";
  bool verbose = false;
};

// What a command does with the state: kRead never creates the state
// directory, the object store or the pool, and never mounts a pool.
enum class Access { kWrite, kRead };

class Session {
 public:
  // Opens the driver (or connects to it) and the control plane. With
  // kRead: when the state directory holds no objects yet, a session with
  // no store (has_store() false); when the in-process pool is not there or
  // not mounted, the store alone (has_plane() false: the controllers, which
  // need the driver, do not run).
  static StatusOr<std::unique_ptr<Session>> Open(const GlobalFlags& flags,
                                                 Access access = Access::kWrite);
  ~Session();

  bool has_plane() const { return plane_ != nullptr; }
  bool has_store() const { return plane_ != nullptr || store_ != nullptr; }
  control::ControlPlane& plane() { return *plane_; }
  control::Store& store() { return plane_ ? plane_->store() : *store_; }
  host::Host& host() { return host_; }

 private:
  Session() = default;
  host::LinuxHost host_;
  std::unique_ptr<csi::Driver> driver_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<control::ControlPlane> plane_;
  std::unique_ptr<control::Store> store_;  // kRead without a driver
};

// Whether the in-process pool of `flags` exists and is mounted, so opening it
// neither creates nor mounts anything.
bool PoolReady(host::Host& host, const GlobalFlags& flags);

// The node id to use: --node-id, else this machine's hostname.
StatusOr<std::string> NodeId(host::Host& host, const GlobalFlags& flags);

// `path` made absolute against the current directory (no symlinks resolved
// in the last component).
StatusOr<std::string> AbsolutePath(host::Host& host, const std::string& path);

}  // namespace ditto::cli
