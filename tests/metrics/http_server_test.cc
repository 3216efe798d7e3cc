#include "metrics/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>

namespace ditto::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ParseListenAddressTest, AcceptsHostPortForms) {
  auto a = ParseListenAddress("0.0.0.0:9810");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 9810);

  auto b = ParseListenAddress(":9810");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->host, "0.0.0.0");

  auto c = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 0);
}

TEST(ParseListenAddressTest, RejectsMalformedAddresses) {
  for (const char* bad :
       {"", "9810", "host:", "host:port", "host:70000", "host:-1", "::1:9810", "host:98 10"}) {
    auto parsed = ParseListenAddress(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("HOST:PORT")) << bad;
  }
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void StartServer() {
    auto server =
        MetricsServer::Start({"127.0.0.1", 0}, metrics_, [this] { return ready_.load(); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }
  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_connection_timeout(std::chrono::seconds(10));
    client.set_read_timeout(std::chrono::seconds(10));
    return client.Get(path);
  }

  PoolStats stats_{.capacity_bytes = 1000, .free_bytes = 600, .volume_count = 4};
  Metrics metrics_{[this]() -> StatusOr<PoolStats> { return stats_; }};
  std::atomic<bool> ready_{true};
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesMetricsInTextFormat) {
  StartServer();
  metrics_.OnRpc("NodePublishVolume", grpc::StatusCode::OK, std::chrono::milliseconds(7));
  auto response = Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(response->get_header_value("Content-Type"), StartsWith("text/plain; version=0.0.4"));
  EXPECT_THAT(response->body,
              HasSubstr("ditto_csi_rpc_total{code=\"OK\",method=\"NodePublishVolume\"} 1"));
  EXPECT_THAT(response->body, HasSubstr("ditto_pool_free_bytes 600\n"));
  EXPECT_THAT(response->body, HasSubstr("ditto_pool_volumes 4\n"));
}

TEST_F(MetricsServerTest, HealthzFollowsReadiness) {
  StartServer();
  auto up = Get("/healthz");
  ASSERT_TRUE(up) << httplib::to_string(up.error());
  EXPECT_EQ(up->status, 200);

  ready_ = false;
  auto down = Get("/healthz");
  ASSERT_TRUE(down) << httplib::to_string(down.error());
  EXPECT_EQ(down->status, 503);
  EXPECT_THAT(down->body, HasSubstr("not ready"));
}

TEST_F(MetricsServerTest, UnknownPathIsNotFound) {
  StartServer();
  auto response = Get("/nothing");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 404);
}

TEST_F(MetricsServerTest, BusyPortIsAnErrorNamingTheAddress) {
  StartServer();
  auto second = MetricsServer::Start({"127.0.0.1", server_->port()}, metrics_, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("127.0.0.1:" + std::to_string(server_->port())));
}

TEST_F(MetricsServerTest, StopsPromptlyAndTwice) {
  StartServer();
  server_->Stop();
  server_->Stop();
  httplib::Client client("127.0.0.1", server_->port());
  client.set_connection_timeout(std::chrono::seconds(2));
  EXPECT_FALSE(client.Get("/metrics"));
}

}  // namespace
}  // namespace ditto::metrics
