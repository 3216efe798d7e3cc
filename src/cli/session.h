// One dittoctl command's connection to the control plane: the object store
// in the state directory plus the CSI driver — run in-process (its pool in
// STATE/pool, served over a gRPC in-process channel) or reached at
// --endpoint. Either way the control plane only speaks CSI to it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "control/control_plane.h"
#include "csi/driver.h"
#include "host/linux_host.h"

namespace ditto::cli {

struct GlobalFlags {
  std::string state_dir = "/var/lib/ditto";
  std::string endpoint;  // "" = in-process driver
  std::string node_id;   // "" = the hostname
  std::string driver_name = "ditto.csi.dev";
  std::string pool_size = "20Gi";
  bool verbose = false;
};

class Session {
 public:
  // Opens the driver (or connects to it) and the control plane.
  static StatusOr<std::unique_ptr<Session>> Open(const GlobalFlags& flags);
  ~Session();

  control::ControlPlane& plane() { return *plane_; }
  host::Host& host() { return host_; }

 private:
  Session() = default;
  host::LinuxHost host_;
  std::unique_ptr<csi::Driver> driver_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<control::ControlPlane> plane_;
};

// The node id to use: --node-id, else this machine's hostname.
StatusOr<std::string> NodeId(host::Host& host, const GlobalFlags& flags);

// `path` made absolute against the current directory (no symlinks resolved
// in the last component).
StatusOr<std::string> AbsolutePath(host::Host& host, const std::string& path);

}  // namespace ditto::cli
