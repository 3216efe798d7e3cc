// dittod's Prometheus metrics: CSI RPC counts and latencies by method and
// code, and the pool's space and object counts read at scrape time.
//
//   ditto_csi_rpc_total{method,code}             counter
//   ditto_csi_rpc_duration_seconds{method,code}  histogram
//   ditto_pool_up                                1 when the pool numbers below could be read
//   ditto_pool_capacity_bytes, ditto_pool_used_bytes, ditto_pool_free_bytes,
//   ditto_pool_provisioned_bytes, ditto_pool_shared_bytes,
//   ditto_pool_volumes, ditto_pool_snapshots,
//   ditto_pool_space_unmeasured_images           gauges
//   ditto_peer_copy_received_bytes_total         counter: bytes copied from other nodes
//   ditto_peer_copies_active                     gauge: copies from other nodes running
//   ditto_peer_copies_completed_total, ditto_peer_copy_interruptions_total  counters
//   ditto_peer_copy_incremental_received_bytes_total, ditto_peer_copies_incremental_completed_total
//                                                counters: the part of incremental copies
//
// Thread-safe: OnRpc may be called from any number of gRPC threads while
// Render runs on the HTTP server's threads.
#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace prometheus {
class Registry;
class Counter;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace ditto::metrics {

// Receives one call per finished CSI RPC. Must be thread-safe and quick.
class RpcObserver {
 public:
  virtual ~RpcObserver() = default;
  virtual void OnRpc(std::string_view method, grpc::StatusCode code,
                     std::chrono::nanoseconds duration) = 0;
};

// What the pool gauges show. The daemon fills it from pool::Pool::GetStatus().
struct PoolStats {
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t provisioned_bytes = 0;  // sum of volume capacities
  uint64_t shared_bytes = 0;       // bytes shared between images by clones and snapshots
  uint64_t volume_count = 0;
  uint64_t snapshot_count = 0;
  uint64_t unmeasured_images = 0;  // images shared_bytes does not count yet
};

// Called at every scrape, on an HTTP server thread. An error sets
// ditto_pool_up to 0 and leaves the other pool gauges out of that scrape.
using PoolStatsSource = std::function<StatusOr<PoolStats>()>;

// What the node-to-node copy metrics show (since dittod started).
struct PeerCopyStats {
  uint64_t received_bytes = 0;
  uint64_t active = 0;
  uint64_t completed = 0;
  uint64_t interruptions = 0;
  uint64_t incremental_received_bytes = 0;  // part of received_bytes
  uint64_t incremental_completed = 0;       // part of completed
};
// Called at every scrape; empty: no peer copy metrics.
using PeerCopyStatsSource = std::function<PeerCopyStats()>;

// Upper bounds (seconds) of the RPC duration histogram buckets.
const std::vector<double>& RpcDurationBuckets();

// "NOT_FOUND" for grpc::StatusCode::NOT_FOUND; "UNKNOWN_CODE_<n>" otherwise.
std::string CodeName(grpc::StatusCode code);

class Metrics : public RpcObserver {
 public:
  // `pool_stats` may be empty: then no pool gauges are exported.
  explicit Metrics(PoolStatsSource pool_stats, PeerCopyStatsSource peer_copies = {});
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void OnRpc(std::string_view method, grpc::StatusCode code,
             std::chrono::nanoseconds duration) override;

  // Every metric in the Prometheus text exposition format (version 0.0.4).
  std::string Render() const;

 private:
  class PoolCollector;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* rpc_total_;
  prometheus::Family<prometheus::Histogram>* rpc_duration_;
  std::shared_ptr<PoolCollector> pool_;
  PeerCopyStatsSource peer_copies_;
};

// The Content-Type of Render()'s output.
inline constexpr char kTextFormatContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace ditto::metrics
