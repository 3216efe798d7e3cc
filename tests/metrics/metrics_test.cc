#include "metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace ditto::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

TEST(CodeNameTest, NamesEveryGrpcCode) {
  EXPECT_EQ(CodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(CodeName(grpc::StatusCode::NOT_FOUND), "NOT_FOUND");
  EXPECT_EQ(CodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(CodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(CodeName(static_cast<grpc::StatusCode>(99)), "UNKNOWN_CODE");
}

TEST(MetricsTest, CountsRpcsByMethodAndCode) {
  Metrics metrics(nullptr);
  metrics.OnRpc("CreateVolume", grpc::StatusCode::OK, 3ms);
  metrics.OnRpc("CreateVolume", grpc::StatusCode::OK, 4ms);
  metrics.OnRpc("CreateVolume", grpc::StatusCode::ALREADY_EXISTS, 1ms);
  metrics.OnRpc("NodeStageVolume", grpc::StatusCode::OK, 2s);
  std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE ditto_csi_rpc_total counter"));
  EXPECT_THAT(text, HasSubstr("ditto_csi_rpc_total{code=\"OK\",method=\"CreateVolume\"} 2"));
  EXPECT_THAT(text,
              HasSubstr("ditto_csi_rpc_total{code=\"ALREADY_EXISTS\",method=\"CreateVolume\"} 1"));
  EXPECT_THAT(text, HasSubstr("ditto_csi_rpc_total{code=\"OK\",method=\"NodeStageVolume\"} 1"));
}

TEST(MetricsTest, TimesRpcsInHistogramBuckets) {
  Metrics metrics(nullptr);
  metrics.OnRpc("CreateVolume", grpc::StatusCode::OK, 3ms);
  metrics.OnRpc("CreateVolume", grpc::StatusCode::OK, 2s);
  std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE ditto_csi_rpc_duration_seconds histogram"));
  // 3ms falls in le=0.005 (and every bucket above); 2s only from le=2.5 on.
  EXPECT_THAT(text, HasSubstr("ditto_csi_rpc_duration_seconds_bucket{code=\"OK\",method="
                              "\"CreateVolume\",le=\"0.0025\"} 0"));
  EXPECT_THAT(text, HasSubstr("ditto_csi_rpc_duration_seconds_bucket{code=\"OK\",method="
                              "\"CreateVolume\",le=\"0.005\"} 1"));
  EXPECT_THAT(text, HasSubstr("ditto_csi_rpc_duration_seconds_bucket{code=\"OK\",method="
                              "\"CreateVolume\",le=\"1\"} 1"));
  EXPECT_THAT(text, HasSubstr("ditto_csi_rpc_duration_seconds_bucket{code=\"OK\",method="
                              "\"CreateVolume\",le=\"2.5\"} 2"));
  EXPECT_THAT(text, HasSubstr("ditto_csi_rpc_duration_seconds_bucket{code=\"OK\",method="
                              "\"CreateVolume\",le=\"+Inf\"} 2"));
  EXPECT_THAT(text, HasSubstr("ditto_csi_rpc_duration_seconds_count{code=\"OK\",method="
                              "\"CreateVolume\"} 2"));
  EXPECT_THAT(text, HasSubstr("ditto_csi_rpc_duration_seconds_sum{code=\"OK\",method="
                              "\"CreateVolume\"} 2.003"));
}

TEST(MetricsTest, ReadsPoolGaugesAtEveryScrape) {
  PoolStats stats;
  stats.capacity_bytes = 21474836480;
  stats.used_bytes = 1048576;
  stats.free_bytes = 21473787904;
  stats.provisioned_bytes = 2147483648;
  stats.shared_bytes = 524288;
  stats.volume_count = 2;
  stats.snapshot_count = 1;
  stats.unmeasured_images = 4;
  int calls = 0;
  Metrics metrics([&]() -> StatusOr<PoolStats> {
    ++calls;
    return stats;
  });
  std::string text = metrics.Render();
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(text, HasSubstr("# TYPE ditto_pool_free_bytes gauge"));
  EXPECT_THAT(text, HasSubstr("ditto_pool_up 1\n"));
  EXPECT_THAT(text, HasSubstr("ditto_pool_capacity_bytes 21474836480\n"));
  EXPECT_THAT(text, HasSubstr("ditto_pool_used_bytes 1048576\n"));
  EXPECT_THAT(text, HasSubstr("ditto_pool_free_bytes 21473787904\n"));
  EXPECT_THAT(text, HasSubstr("ditto_pool_provisioned_bytes 2147483648\n"));
  EXPECT_THAT(text, HasSubstr("ditto_pool_shared_bytes 524288\n"));
  EXPECT_THAT(text, HasSubstr("ditto_pool_volumes 2\n"));
  EXPECT_THAT(text, HasSubstr("ditto_pool_snapshots 1\n"));
  EXPECT_THAT(text, HasSubstr("ditto_pool_space_unmeasured_images 4\n"));

  stats.volume_count = 3;
  text = metrics.Render();
  EXPECT_EQ(calls, 2);
  EXPECT_THAT(text, HasSubstr("ditto_pool_volumes 3\n"));
}

TEST(MetricsTest, UnreadablePoolShowsDownWithoutStaleNumbers) {
  Metrics metrics(
      []() -> StatusOr<PoolStats> { return absl::FailedPreconditionError("pool is not mounted"); });
  std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("ditto_pool_up 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("ditto_pool_free_bytes")));
}

TEST(MetricsTest, NoPoolSourceMeansNoPoolGauges) {
  Metrics metrics(nullptr);
  EXPECT_THAT(metrics.Render(), Not(HasSubstr("ditto_pool_")));
}

}  // namespace
}  // namespace ditto::metrics
