#include "metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <utility>

#include "common/status.h"

namespace ditto::metrics {
namespace {


prometheus::MetricFamily Gauge(std::string name, std::string help, double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric metric;
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
  return family;
}

prometheus::MetricFamily Counter(std::string name, std::string help, double value) {
  prometheus::MetricFamily family = Gauge(std::move(name), std::move(help), 0);
  family.type = prometheus::MetricType::Counter;
  family.metric[0].counter.value = value;
  return family;
}

}  // namespace

const std::vector<double>& RpcDurationBuckets() {
  // From a cached Probe (~100us) to a sparse copy of a large image on a
  // filesystem without reflinks (minutes).
  static const std::vector<double> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
  return kBuckets;
}

std::string CodeName(grpc::StatusCode code) { return StatusCodeName(static_cast<int>(code)); }

// Reads the pool at collection time: counts and free space are current; the
// space figures are the pool's space cache's (constant time to read).
class Metrics::PoolCollector : public prometheus::Collectable {
 public:
  explicit PoolCollector(PoolStatsSource source) : source_(std::move(source)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families;
    if (!source_) return families;
    StatusOr<PoolStats> stats = source_();
    families.push_back(Gauge("ditto_pool_up",
                             "1 when the pool could be read at this scrape, else 0.",
                             stats.ok() ? 1 : 0));
    if (!stats.ok()) return families;
    const PoolStats& s = *stats;
    auto d = [](uint64_t v) { return static_cast<double>(v); };
    families.push_back(Gauge("ditto_pool_capacity_bytes", "Bytes the pool's filesystem can hold.",
                             d(s.capacity_bytes)));
    families.push_back(
        Gauge("ditto_pool_used_bytes", "Bytes in use on the pool's filesystem.", d(s.used_bytes)));
    families.push_back(Gauge("ditto_pool_free_bytes",
                             "Bytes still available to new data in the pool.", d(s.free_bytes)));
    families.push_back(Gauge("ditto_pool_provisioned_bytes",
                             "Sum of the capacities of the pool's volumes.",
                             d(s.provisioned_bytes)));
    families.push_back(Gauge("ditto_pool_shared_bytes",
                             "Allocated bytes that images share with another image (clones "
                             "and snapshots that reflink their source), from each image's "
                             "extent map as last measured: changes made by ditto show within "
                             "a second, applications' writes within dittod's "
                             "--space-refresh-period (60 s by default).",
                             d(s.shared_bytes)));
    families.push_back(
        Gauge("ditto_pool_volumes", "Number of volumes in the pool.", d(s.volume_count)));
    families.push_back(
        Gauge("ditto_pool_snapshots", "Number of snapshots in the pool.", d(s.snapshot_count)));
    families.push_back(Gauge("ditto_pool_space_unmeasured_images",
                             "Images whose extent map is still to be measured (after dittod "
                             "starts, or changed by ditto since): ditto_pool_shared_bytes does "
                             "not count them yet.",
                             d(s.unmeasured_images)));
    return families;
  }

 private:
  PoolStatsSource source_;
};

Metrics::Metrics(PoolStatsSource pool_stats, PeerCopyStatsSource peer_copies)
    : registry_(std::make_shared<prometheus::Registry>()),
      rpc_total_(&prometheus::BuildCounter()
                      .Name("ditto_csi_rpc_total")
                      .Help("CSI RPCs served, by method and gRPC status code.")
                      .Register(*registry_)),
      rpc_duration_(&prometheus::BuildHistogram()
                         .Name("ditto_csi_rpc_duration_seconds")
                         .Help("Time to serve a CSI RPC, by method and gRPC status code.")
                         .Register(*registry_)),
      pool_(std::make_shared<PoolCollector>(std::move(pool_stats))),
      peer_copies_(std::move(peer_copies)) {}

Metrics::~Metrics() = default;

void Metrics::OnRpc(std::string_view method, grpc::StatusCode code,
                    std::chrono::nanoseconds duration) {
  prometheus::Labels labels = {{"method", std::string(method)},
                               {"code", CodeName(code)}};
  // Family::Add returns the existing child for known labels, under the
  // family's own lock.
  rpc_total_->Add(labels).Increment();
  rpc_duration_->Add(labels, RpcDurationBuckets())
      .Observe(std::chrono::duration<double>(duration).count());
}

std::string Metrics::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<prometheus::MetricFamily> pool = pool_->Collect();
  families.insert(families.end(), std::make_move_iterator(pool.begin()),
                  std::make_move_iterator(pool.end()));
  if (peer_copies_) {
    PeerCopyStats copies = peer_copies_();
    auto d = [](uint64_t v) { return static_cast<double>(v); };
    families.push_back(Counter("ditto_peer_copy_received_bytes_total",
                               "Bytes of volumes copied from other nodes, verified and written.",
                               d(copies.received_bytes)));
    families.push_back(Gauge("ditto_peer_copies_active",
                             "Copies of volumes from other nodes running now.", d(copies.active)));
    families.push_back(Counter("ditto_peer_copies_completed_total",
                               "Volumes copied from other nodes.", d(copies.completed)));
    families.push_back(Counter("ditto_peer_copy_interruptions_total",
                               "Attempts of copies from other nodes that failed (each resumed "
                               "or given up).",
                               d(copies.interruptions)));
    families.push_back(Counter("ditto_peer_copy_incremental_received_bytes_total",
                               "Of the bytes copied from other nodes, those of incremental "
                               "copies (only the blocks changed since a base this node holds).",
                               d(copies.incremental_received_bytes)));
    families.push_back(Counter("ditto_peer_copies_incremental_completed_total",
                               "Of the volumes copied from other nodes, those copied "
                               "incrementally.",
                               d(copies.incremental_completed)));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace ditto::metrics
