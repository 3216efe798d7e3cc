// dittod: serves the CSI Identity, Controller and Node services of one pool on
// a unix socket.
//
//   dittod --endpoint unix:///run/ditto/csi.sock --node-id NODE --pool DIR
//          [--driver-name ditto.csi.dev] [--mode all|controller|node]
//          [--pool-size SIZE] [--metrics-address HOST:PORT] [--log-level info]
//          [--space-refresh-period SECONDS]
//          [--peer-listen HOST:PORT] [--peer NODE=HOST:PORT ...] [--peer-tls-dir DIR]
//          [--peer-max-rate BYTES_PER_SECOND] [--peer-discovery static|kubernetes]
//          [--peer-port PORT] [--peer-tls-optional] [--label-snapshot-contents]
//
// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when the pool or
// the socket cannot be used, 2 for a bad command line.
#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "common/quantity.h"
#include "csi/driver.h"
#include "daemon/peer_server.h"
#include "common/phase_timer.h"
#include "fmt/format.h"
#include "host/linux_host.h"
#include "kube/snapshot_content_labels.h"
#include "metrics/http_server.h"
#include "metrics/metrics.h"
#include "spdlog/spdlog.h"

#ifndef DITTO_VERSION
#define DITTO_VERSION "0.0.0"
#endif

namespace ditto {
namespace {

constexpr char kUnixScheme[] = "unix://";
// How long in-flight RPCs may run after a shutdown signal (a clone or mkfs
// finishes well within it).
constexpr auto kShutdownGrace = std::chrono::seconds(30);

struct Flags {
  std::string endpoint;
  std::string node_id;
  std::string pool_dir;
  std::string driver_name = "ditto.csi.dev";
  std::string mode = "all";
  std::string pool_size;
  std::string pool_backend;  // "" = $DITTO_POOL_BACKEND, else btrfs
  std::string pool_device;
  std::string metrics_address;  // empty: no metrics endpoint
  std::string log_level = "info";
  int space_refresh_seconds = 60;
  PeerFlags peer;
  bool label_snapshot_contents = false;
};

// How often the snapshot contents are looked at for this node's
// (--label-snapshot-contents): the wait a group or pre-provisioned snapshot
// adds at most.
constexpr auto kSnapshotContentLabelInterval = std::chrono::seconds(2);

// With --label-snapshot-contents, the labeler of this node's snapshot
// contents (kube/snapshot_content_labels.h), started.
StatusOr<std::unique_ptr<kube::SnapshotContentLabeler>> StartSnapshotContentLabels(
    host::Host& host, const Flags& flags) {
  if (!flags.label_snapshot_contents) return nullptr;
  ASSIGN_OR_RETURN(auto config, kube::InClusterConfig(host));
  ASSIGN_OR_RETURN(auto api, kube::MakeKubernetesApi(host, std::move(config)));
  auto labeler = std::make_unique<kube::SnapshotContentLabeler>(std::move(api), flags.driver_name,
                                                                flags.node_id);
  labeler->Start(kSnapshotContentLabelInterval);
  spdlog::info(
      "snapshots: labelling this node's VolumeSnapshotContents and VolumeGroupSnapshotContents "
      "{}={}",
      kube::kManagedByLabel, flags.node_id);
  return labeler;
}

// Feeds every served RPC into the Prometheus metrics.
class MetricsRpcObserver : public csi::RpcObserver {
 public:
  explicit MetricsRpcObserver(std::shared_ptr<metrics::Metrics> metrics)
      : metrics_(std::move(metrics)) {}
  void OnRpc(const csi::RpcEvent& event) override {
    metrics_->OnRpc(event.method, event.code, event.duration);
  }

 private:
  std::shared_ptr<metrics::Metrics> metrics_;
};

// The pool gauges, read at each scrape.
metrics::PoolStatsSource PoolStatsOf(pool::Pool& pool) {
  return [&pool]() -> StatusOr<metrics::PoolStats> {
    ASSIGN_OR_RETURN(pool::PoolStatus status, pool.GetStatus());
    metrics::PoolStats stats;
    stats.capacity_bytes = status.capacity_bytes;
    stats.used_bytes = status.used_bytes;
    stats.free_bytes = status.free_bytes;
    stats.provisioned_bytes = status.provisioned_bytes;
    stats.shared_bytes = status.shared_bytes;
    stats.volume_count = status.volume_count;
    stats.snapshot_count = status.snapshot_count;
    stats.unmeasured_images = status.unmeasured_images;
    return stats;
  };
}

// "unix:///abs/path" -> "/abs/path".
StatusOr<std::string> SocketPath(const std::string& endpoint) {
  if (endpoint.rfind(kUnixScheme, 0) != 0 || endpoint.size() <= sizeof(kUnixScheme) ||
      endpoint[sizeof(kUnixScheme) - 1] != '/') {
    return absl::InvalidArgumentError(fmt::format(
        "--endpoint {} is not a unix socket URL; use unix:///ABSOLUTE/PATH/csi.sock", endpoint));
  }
  return endpoint.substr(sizeof(kUnixScheme) - 1);
}

// Removes a socket left by a previous run; refuses to remove anything else.
Status RemoveStaleSocket(host::Host& host, const std::string& path) {
  auto info = host.Stat(path);
  if (absl::IsNotFound(info.status())) return absl::OkStatus();
  RETURN_IF_ERROR(info.status());
  if (info->is_directory || info->is_regular || info->is_block_device) {
    return absl::FailedPreconditionError(
        fmt::format("{} exists and is not a socket; remove it or choose another --endpoint", path));
  }
  spdlog::info("removing stale socket {}", path);
  return host.Remove(path);
}

// Kept in one piece: dittod's start-up in order (flags, pool, socket, signals,
// metrics, driver, serve, shutdown); a failing step ends it with its own message.
int Serve(const Flags& flags) {
  csi::DriverOptions options;
  options.driver_name = flags.driver_name;
  options.node_id = flags.node_id;
  options.pool_dir = flags.pool_dir;
  options.mode = flags.mode == "controller" ? csi::DriverMode::kController
                 : flags.mode == "node"     ? csi::DriverMode::kNode
                                            : csi::DriverMode::kAll;
  if (!flags.pool_size.empty()) {
    auto size = ParseQuantity(flags.pool_size);
    if (!size.ok() || *size <= 0) {
      fmt::print(
          stderr, "dittod: --pool-size {}: {}\n", flags.pool_size,
          size.ok() ? std::string("must be positive") : std::string(size.status().message()));
      return 2;
    }
    options.init_pool_if_missing = true;
    options.pool_init.size_bytes = static_cast<uint64_t>(*size);
  }
  if (!flags.pool_device.empty()) {
    options.init_pool_if_missing = true;
    options.pool_init.device = flags.pool_device;
  }
  auto backend = flags.pool_backend.empty() ? pool::DefaultBackendChoice()
                                            : pool::ParseBackendChoice(flags.pool_backend);
  if (!backend.ok()) {
    fmt::print(stderr, "dittod: {}\n", std::string(backend.status().message()));
    return 2;
  }
  options.pool_init.backend = *backend;
  auto socket_path = SocketPath(flags.endpoint);
  if (!socket_path.ok()) {
    fmt::print(stderr, "dittod: {}\n", std::string(socket_path.status().message()));
    return 2;
  }
  std::optional<metrics::ListenAddress> metrics_address;
  if (!flags.metrics_address.empty()) {
    auto parsed = metrics::ParseListenAddress(flags.metrics_address);
    if (!parsed.ok()) {
      fmt::print(stderr, "dittod: --metrics-address: {}\n", std::string(parsed.status().message()));
      return 2;
    }
    metrics_address = *parsed;
  }

  // Signals are taken by one thread with sigwait, so every other thread
  // (gRPC's included, created later) inherits them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  host::LinuxHost host;
  auto peer_options = PeerOptionsFromFlags(host, flags.peer, flags.node_id);
  if (!peer_options.ok()) {
    fmt::print(stderr, "dittod: {}\n", std::string(peer_options.status().message()));
    return absl::IsInvalidArgument(peer_options.status()) ? 2 : 1;
  }
  options.peers = *peer_options;
  PhaseTimer startup;
  auto driver = csi::Driver::Open(host, options);
  if (!driver.ok()) {
    spdlog::critical("cannot start: {}", std::string(driver.status().message()));
    return 1;
  }
  startup.Append("pool", (*driver)->pool().open_phases());
  startup.Lap("driver (node reconcile)");
  Status removed = RemoveStaleSocket(host, *socket_path);
  if (!removed.ok()) {
    spdlog::critical("cannot start: {}", std::string(removed.message()));
    return 1;
  }

  // Metrics first, so that the observer sees every RPC and /healthz answers
  // while the socket comes up.
  // Declared before the server, which renders it, so it is destroyed after.
  std::shared_ptr<metrics::Metrics> collected;
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (metrics_address) {
    metrics::PeerCopyStatsSource copies;
    if (peer::Transfers* transfers = (*driver)->transfers()) {
      copies = [transfers] {
        peer::TransferStats stats = transfers->Stats();
        return metrics::PeerCopyStats{stats.bytes_received,
                                      stats.active,
                                      stats.completed,
                                      stats.failed_attempts,
                                      stats.incremental_bytes_received,
                                      stats.incremental_completed};
      };
    }
    collected = std::make_shared<metrics::Metrics>(PoolStatsOf((*driver)->pool()), copies);
    (*driver)->AddObserver(std::make_shared<MetricsRpcObserver>(collected));
    csi::Driver* ready = driver->get();
    auto started = metrics::MetricsServer::Start(*metrics_address, *collected,
                                                 [ready] { return ready->Ready(); });
    if (!started.ok()) {
      spdlog::critical("cannot start: {}", std::string(started.status().message()));
      return 1;
    }
    metrics_server = std::move(*started);
    spdlog::info("metrics on http://{}:{}/metrics", metrics_address->host, metrics_server->port());
  }

  std::unique_ptr<PeerServer> peer_server;
  // No peer options with --peer-listen: --peer-tls-optional found no
  // certificates (logged), so nothing is served to other nodes.
  if (!flags.peer.listen.empty() && options.peers) {
    auto started = PeerServer::Start(flags.peer.listen, *options.peers, (*driver)->pool());
    if (!started.ok()) {
      spdlog::critical("cannot start: {}", std::string(started.status().message()));
      return 1;
    }
    peer_server = std::move(*started);
    spdlog::info("node-to-node service on {} (port {}, mutual TLS); {}", flags.peer.listen,
                 peer_server->port(), options.peers->peers->Describe());
  }

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(flags.endpoint, grpc::InsecureServerCredentials(), &port);
  (*driver)->RegisterServices(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  startup.Lap("servers");
  if (!server) {
    spdlog::critical("cannot listen on {} (is the directory missing or another dittod running?)",
                     flags.endpoint);
    return 1;
  }
  // Only root (the kubelet and the sidecars) may talk to the driver.
  Status mode = host.SetMode(*socket_path, 0600);
  if (!mode.ok()) {
    spdlog::critical("cannot restrict {}: {}", *socket_path, std::string(mode.message()));
    server->Shutdown();
    return 1;
  }
  // The space figures (metrics, status) from a cache measured in the
  // background, so that no request reads every image's extent map. Started
  // once serving: its first pass over every image does not hold up the
  // first Probe.
  Status refreshing = (*driver)->pool().StartSpaceRefresh(
      std::chrono::seconds(flags.space_refresh_seconds));
  if (!refreshing.ok()) {
    spdlog::critical("cannot start: {}", std::string(refreshing.message()));
    server->Shutdown();
    return 1;
  }
  startup.Lap("space refresh");
  auto labeler = StartSnapshotContentLabels(host, flags);
  if (!labeler.ok()) {
    spdlog::critical("cannot start: --label-snapshot-contents: {}",
                     std::string(labeler.status().message()));
    server->Shutdown();
    return 1;
  }
  spdlog::info("dittod {} serving {} ({} mode) for node {} on {} with pool {}", DITTO_VERSION,
               flags.driver_name, flags.mode, flags.node_id, flags.endpoint, flags.pool_dir);
  spdlog::info("started in {}", startup.Summary());

  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    spdlog::info("received {}; finishing in-flight calls (at most {}s) and stopping",
                 signal == SIGTERM ? "SIGTERM" : "SIGINT", kShutdownGrace.count());
    if (peer_server) peer_server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  });
  server->Wait();
  waiter.join();
  if (*labeler) (*labeler)->Stop();
  if (metrics_server) metrics_server->Stop();
  (void)host.Remove(*socket_path);
  spdlog::info("dittod stopped");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace
}  // namespace ditto

int main(int argc, char** argv) {
  ditto::Flags flags;
  CLI::App app{"dittod: the ditto CSI driver (Identity, Controller and Node services)"};
  app.set_version_flag("--version", std::string("dittod ") + DITTO_VERSION);
  app.add_option("--endpoint", flags.endpoint, "CSI endpoint, unix:///PATH/csi.sock")->required();
  app.add_option("--node-id", flags.node_id, "name of this node (topology and NodeGetInfo)")
      ->required();
  app.add_option("--pool", flags.pool_dir, "pool directory (see dittoctl pool init)")->required();
  app.add_option("--driver-name", flags.driver_name, "CSI driver name")->capture_default_str();
  app.add_option("--mode", flags.mode, "services to serve")
      ->check(CLI::IsMember({"all", "controller", "node"}))
      ->capture_default_str();
  app.add_option("--pool-size", flags.pool_size,
                 "initialise the pool with a backing file of this size (e.g. 20Gi) if it does "
                 "not exist yet");
  app.add_option("--pool-backend", flags.pool_backend,
                 "backend of a pool made here: btrfs (subvolume snapshots, the default) or xfs "
                 "(reflinked files); default $DITTO_POOL_BACKEND")
      ->check(CLI::IsMember({"btrfs", "xfs"}));
  app.add_option("--pool-device", flags.pool_device,
                 "make the pool on this whole disk or partition if it does not exist yet (it "
                 "must be empty); the pool finds it again by its filesystem UUID")
      ->envname("DITTO_POOL_DEVICE");
  app.add_option("--metrics-address", flags.metrics_address,
                 "serve Prometheus /metrics and /healthz (readiness) on HOST:PORT, e.g. "
                 "0.0.0.0:9810; off when not given");
  app.add_option("--space-refresh-period", flags.space_refresh_seconds,
                 "measure every image's space (shared and reserved bytes in metrics and "
                 "status) once per this many seconds, spread evenly; ditto's own changes are "
                 "measured within a second")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--peer-listen", flags.peer.listen,
                 "serve the node-to-node service (copies of this node's volumes to other "
                 "nodes) on HOST:PORT, e.g. 0.0.0.0:9811; off when not given");
  app.add_option("--peer", flags.peer.peers,
                 "another node's node-to-node service, NODE=HOST:PORT (repeatable): clones and "
                 "restores of its volumes and snapshots are copied from there");
  app.add_option("--peer-tls-dir", flags.peer.tls_dir,
                 "directory with ca.crt, tls.crt and tls.key (PEM) for the node-to-node "
                 "service (or NODE.crt and NODE.key instead of tls.*); each node's certificate "
                 "names its node ID (CN or SAN) and is signed by the CA");
  app.add_option("--peer-discovery", flags.peer.discovery,
                 "where the other nodes are: static (only --peer) or kubernetes (in a pod: "
                 "each Node object is a node named by its name at its InternalIP and "
                 "--peer-port; --peer entries win; needs get, list and watch on nodes)")
      ->check(CLI::IsMember({"static", "kubernetes"}))
      ->capture_default_str();
  app.add_option("--peer-port", flags.peer.port,
                 "with --peer-discovery=kubernetes, the port the other nodes serve the "
                 "node-to-node service on; default: the port of --peer-listen")
      ->check(CLI::Range(1, 65535));
  app.add_flag("--peer-tls-optional", flags.peer.tls_optional,
                 "when --peer-tls-dir holds no ca.crt, run without copies between nodes (a "
                 "warning) instead of failing: for an optional Secret");
  app.add_flag("--label-snapshot-contents,--label-group-snapshots", flags.label_snapshot_contents,
               "in a pod with distributed snapshotting (csi-snapshotter --node-deployment): "
               "label this node's pre-provisioned VolumeSnapshotContents and its "
               "VolumeGroupSnapshotContents snapshot.storage.kubernetes.io/managed-by=NODE, "
               "which the snapshot-controller does not, so that this node's csi-snapshotter "
               "takes them; needs get, list and patch on volumesnapshotcontents and "
               "volumegroupsnapshotcontents (--label-group-snapshots: its earlier name)");
  app.add_option("--peer-max-rate", flags.peer.max_rate,
                 "bytes per second one copy from another node may take (e.g. 200Mi); "
                 "unbounded when not given");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  return ditto::Serve(flags);
}
