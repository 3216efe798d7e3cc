// The CSI driver: Identity, Controller and Node services over one pool.
// dittod serves it on a unix socket; dittoctl can run it in-process and talk
// to it through grpc::Server::InProcessChannel — the same CSI API either way.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "csi/rpc_observer.h"
#include "host/host.h"
#include "peer/transfers.h"
#include "pool/pool.h"

namespace ditto::csi {

enum class DriverMode { kAll, kController, kNode };

struct DriverOptions {
  std::string driver_name = "ditto.csi.dev";
  std::string node_id;   // required
  std::string pool_dir;  // required
  DriverMode mode = DriverMode::kAll;
  // When the pool does not exist yet: initialise it with these options.
  bool init_pool_if_missing = false;
  pool::InitOptions pool_init;
  // One log line per RPC (method, IDs, code, duration).
  bool log_rpcs = true;
  // Also told of every RPC (e.g. metrics); may be null.
  std::shared_ptr<RpcObserver> observer;
  // The other nodes: a CreateVolume whose source one of them holds copies it
  // from there. Unset: every source is looked up in this node's pool.
  std::optional<peer::TransferOptions> peers;
};

// Topology key every volume and node is labelled with.
inline constexpr char kTopologyKey[] = "topology.ditto.csi.dev/node";

class Driver {
 public:
  // Opens (or initialises, if asked) the pool and recovers node state.
  static StatusOr<std::unique_ptr<Driver>> Open(host::Host& host, const DriverOptions& options);
  virtual ~Driver() = default;

  // Registers the services of this mode with `builder`, and the interceptor
  // that answers undecodable requests INVALID_ARGUMENT (it replaces the
  // builder's interceptor creators). The Driver must outlive the server built
  // from it.
  virtual void RegisterServices(grpc::ServerBuilder& builder) = 0;
  // Whether the pool and catalog are usable (Probe, /healthz).
  virtual bool Ready() = 0;
  virtual pool::Pool& pool() = 0;
  virtual const DriverOptions& options() const = 0;
  // The copies from other nodes; null without peers.
  virtual peer::Transfers* transfers() = 0;
  // Adds an observer of every RPC served from now on (metrics).
  virtual void AddObserver(std::shared_ptr<RpcObserver> observer) = 0;
};

}  // namespace ditto::csi
