// KubernetesPeers over a fake API (no network) and a clock the test moves:
// which node holds an ID, how often the Nodes are listed, what an operator
// is told when the API cannot be read.
#include "peer/kubernetes_peers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>

#include "common/ids.h"
#include "fmt/format.h"

namespace ditto::peer {
namespace {

using ::testing::HasSubstr;
using kube::ApiResponse;
using kube::KubernetesApi;

// Answers GETs from a queue (the last answer repeats); counts them.
class FakeApi final : public KubernetesApi {
 public:
  struct Shared {
    std::deque<StatusOr<ApiResponse>> answers;
    std::vector<std::string> paths;
  };
  explicit FakeApi(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  StatusOr<ApiResponse> Get(const std::string& path) override {
    shared_->paths.push_back(path);
    if (shared_->answers.empty()) return absl::InternalError("the test gave no answer");
    auto answer = shared_->answers.front();
    if (shared_->answers.size() > 1) shared_->answers.pop_front();
    return answer;
  }
  StatusOr<ApiResponse> Patch(const std::string& path, const std::string&) override {
    return absl::InternalError("peer discovery patched " + path);
  }
  std::string Server() const override { return "https://10.96.0.1:443"; }

 private:
  std::shared_ptr<Shared> shared_;
};

struct NodeSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> addresses;  // type, address
};

std::string NodeList(const std::vector<NodeSpec>& nodes) {
  std::vector<std::string> items;
  for (const auto& node : nodes) {
    std::vector<std::string> addresses;
    for (const auto& [type, address] : node.addresses) {
      addresses.push_back(fmt::format(R"({{"type":"{}","address":"{}"}})", type, address));
    }
    items.push_back(fmt::format(
        R"({{"metadata":{{"name":"{}","labels":{{"kubernetes.io/hostname":"{}"}}}},)"
        R"("status":{{"addresses":[{}],"images":[]}}}})",
        node.name, node.name, fmt::join(addresses, ",")));
  }
  return fmt::format(R"({{"kind":"NodeList","apiVersion":"v1","metadata":{{"resourceVersion":"7"}},"items":[{}]}})",
                     fmt::join(items, ","));
}

ApiResponse Ok(const std::string& body) { return ApiResponse{200, body}; }

class KubernetesPeersTest : public ::testing::Test {
 protected:
  std::unique_ptr<KubernetesPeers> Make(std::vector<std::string> static_peers = {}) {
    std::vector<PeerAddress> fixed;
    for (const auto& text : static_peers) {
      auto peer = ParsePeerFlag(text);
      EXPECT_TRUE(peer.ok()) << peer.status();
      fixed.push_back(*peer);
    }
    auto map = PeerMap::Make("node-a", fixed);
    EXPECT_TRUE(map.ok()) << map.status();
    KubernetesPeersOptions options;
    options.peer_port = 9811;
    options.min_refresh_interval = std::chrono::seconds(10);
    options.max_age = std::chrono::minutes(5);
    options.now = [this] { return now_; };
    return std::make_unique<KubernetesPeers>(std::make_unique<FakeApi>(api_), std::move(*map),
                                             options);
  }
  void Advance(std::chrono::seconds by) { now_ += by; }
  size_t Gets() const { return api_->paths.size(); }

  std::shared_ptr<FakeApi::Shared> api_ = std::make_shared<FakeApi::Shared>();
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
};

const std::vector<NodeSpec> kTwoNodes = {
    {"node-a", {{"InternalIP", "10.0.0.1"}}},
    {"node-b", {{"Hostname", "node-b"}, {"ExternalIP", "203.0.113.2"}, {"InternalIP", "10.0.0.2"}}},
};

TEST_F(KubernetesPeersTest, TheHolderIsTheNodeWhoseNameHasTheTagAtItsInternalIp) {
  api_->answers.push_back(Ok(NodeList(kTwoNodes)));
  auto peers = Make();
  auto holder = peers->HolderOf(NewVolumeId(NodeTag("node-b")));
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_TRUE(holder->has_value());
  EXPECT_EQ((*holder)->node_id, "node-b");
  EXPECT_EQ((*holder)->Target(), "10.0.0.2:9811");
  EXPECT_EQ((*holder)->tag, NodeTag("node-b"));
  auto by_snapshot = peers->HolderOf(NewSnapshotId(NodeTag("node-b")));
  ASSERT_TRUE(by_snapshot.ok() && by_snapshot->has_value());
  EXPECT_EQ((*by_snapshot)->node_id, "node-b");
  auto found = peers->Find("node-b");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->host, "10.0.0.2");
  ASSERT_EQ(Gets(), 1u) << "one list answers every lookup";
  EXPECT_EQ(api_->paths[0], "/api/v1/nodes?resourceVersion=0");
}

TEST_F(KubernetesPeersTest, OwnAndUntaggedIdsAskNobody) {
  api_->answers.push_back(Ok(NodeList(kTwoNodes)));
  auto peers = Make();
  for (const std::string& id : {NewVolumeId(NodeTag("node-a")), NewSnapshotId(NodeTag("node-a")),
                                std::string("not-an-id"), std::string("group-") + std::string(32, 'a')}) {
    auto holder = peers->HolderOf(id);
    ASSERT_TRUE(holder.ok()) << holder.status();
    EXPECT_FALSE(holder->has_value()) << id;
  }
  auto self = peers->Find("node-a");
  ASSERT_TRUE(self.ok());
  EXPECT_FALSE(self->has_value());
  EXPECT_EQ(Gets(), 0u);
  // An ID made before IDs carried tags: its first digits name no node; one
  // list says so, and it is this node's to look up.
  auto old = peers->HolderOf("vol-" + std::string(32, '0'));
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_FALSE(old->has_value());
  EXPECT_EQ(Gets(), 1u);
}

TEST_F(KubernetesPeersTest, AnUnknownTagListsAgainAtMostOncePerInterval) {
  api_->answers.push_back(Ok(NodeList(kTwoNodes)));
  auto peers = Make();
  const std::string from_c = NewVolumeId(NodeTag("node-c"));
  for (int i = 0; i < 50; ++i) {
    auto holder = peers->HolderOf(from_c);
    ASSERT_TRUE(holder.ok()) << holder.status();
    EXPECT_FALSE(holder->has_value());
  }
  EXPECT_EQ(Gets(), 1u) << "fifty misses within the interval cost one list";

  // node-c joins the cluster; the next list after the interval finds it.
  api_->answers.clear();
  api_->answers.push_back(
      Ok(NodeList({kTwoNodes[0], kTwoNodes[1], {"node-c", {{"InternalIP", "10.0.0.3"}}}})));
  Advance(std::chrono::seconds(9));
  EXPECT_FALSE(peers->HolderOf(from_c)->has_value());
  EXPECT_EQ(Gets(), 1u);
  Advance(std::chrono::seconds(1));
  auto holder = peers->HolderOf(from_c);
  ASSERT_TRUE(holder.ok() && holder->has_value()) << holder.status();
  EXPECT_EQ((*holder)->Target(), "10.0.0.3:9811");
  EXPECT_EQ(Gets(), 2u);
  // Known nodes are answered from the listing until it is old.
  Advance(std::chrono::seconds(60));
  EXPECT_TRUE(peers->HolderOf(NewVolumeId(NodeTag("node-b")))->has_value());
  EXPECT_EQ(Gets(), 2u);
}

TEST_F(KubernetesPeersTest, AnOldListingIsMadeAgainAndKeptWhenTheApiFails) {
  api_->answers.push_back(Ok(NodeList(kTwoNodes)));
  api_->answers.push_back(ApiResponse{503, R"({"kind":"Status","message":"etcd is down"})"});
  auto peers = Make();
  const std::string from_b = NewVolumeId(NodeTag("node-b"));
  ASSERT_TRUE(peers->HolderOf(from_b)->has_value());
  Advance(std::chrono::minutes(5));
  auto holder = peers->HolderOf(from_b);
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_TRUE(holder->has_value()) << "the old listing still answers";
  EXPECT_EQ(Gets(), 2u);
  // An ID of a node the old listing does not know: the API's error, not a
  // silent "this node's".
  Advance(std::chrono::seconds(10));
  auto unknown = peers->HolderOf(NewVolumeId(NodeTag("node-z")));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("HTTP 503: etcd is down"));
}

TEST_F(KubernetesPeersTest, StaticPeersWinAndNeedNoList) {
  api_->answers.push_back(Ok(NodeList(kTwoNodes)));
  auto peers = Make({"node-b=192.168.7.2:7000"});
  auto holder = peers->HolderOf(NewVolumeId(NodeTag("node-b")));
  ASSERT_TRUE(holder.ok() && holder->has_value());
  EXPECT_EQ((*holder)->Target(), "192.168.7.2:7000");
  auto found = peers->Find("node-b");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->port, 7000);
  EXPECT_EQ(Gets(), 0u);
  EXPECT_THAT(peers->Describe(), HasSubstr("1 from --peer"));
}

TEST_F(KubernetesPeersTest, AMissingPermissionSaysWhichToGrant) {
  api_->answers.push_back(ApiResponse{
      403, R"({"kind":"Status","status":"Failure","message":"nodes is forbidden: User \"system:serviceaccount:ditto:ditto-node\" cannot list resource \"nodes\" in API group \"\" at the cluster scope","reason":"Forbidden","code":403})"});
  auto peers = Make();
  auto holder = peers->HolderOf(NewVolumeId(NodeTag("node-b")));
  EXPECT_EQ(holder.status().code(), absl::StatusCode::kPermissionDenied);
  std::string message(holder.status().message());
  EXPECT_THAT(message, HasSubstr("get, list and watch on nodes"));
  EXPECT_THAT(message, HasSubstr("ditto-node-peers"));
  EXPECT_THAT(message, HasSubstr("system:serviceaccount:ditto:ditto-node"));
  // The error is remembered for the interval, not asked again per request.
  EXPECT_EQ(peers->Find("node-b").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Gets(), 1u);
  auto refreshed = peers->Refresh();
  EXPECT_EQ(refreshed.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Gets(), 2u);
}

TEST_F(KubernetesPeersTest, TokenAndConnectionFailuresSayWhatToCheck) {
  api_->answers.push_back(ApiResponse{401, R"({"kind":"Status","message":"Unauthorized"})"});
  auto peers = Make();
  auto holder = peers->HolderOf(NewVolumeId(NodeTag("node-b")));
  EXPECT_EQ(holder.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(holder.status().message()), HasSubstr("token"));

  api_->answers.clear();
  api_->answers.push_back(absl::UnavailableError("no answer from the Kubernetes API server"));
  Advance(std::chrono::seconds(10));
  EXPECT_EQ(peers->Refresh().status().code(), absl::StatusCode::kUnavailable);

  api_->answers.clear();
  api_->answers.push_back(Ok("<html>a proxy</html>"));
  EXPECT_EQ(peers->Refresh().status().code(), absl::StatusCode::kUnavailable);
  api_->answers.clear();
  api_->answers.push_back(Ok(
      R"({"items":[{"metadata":{"name":"node-b"},"status":{"addresses":[{"type":"InternalIP","address":7}]}}]})"));
  auto odd = peers->Refresh();
  EXPECT_EQ(odd.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(odd.status().message()), HasSubstr("unexpected shape"));
}

TEST_F(KubernetesPeersTest, ANodeWithoutInternalIpIsNamedWithTheReason) {
  api_->answers.push_back(Ok(NodeList(
      {kTwoNodes[0], {"node-b", {{"Hostname", "node-b"}, {"ExternalIP", "203.0.113.2"}}}})));
  auto peers = Make();
  auto refreshed = peers->Refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.status();
  EXPECT_EQ(*refreshed, 0u);
  auto holder = peers->HolderOf(NewVolumeId(NodeTag("node-b")));
  EXPECT_EQ(holder.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(holder.status().message()), HasSubstr("node-b"));
  EXPECT_THAT(std::string(holder.status().message()), HasSubstr("InternalIP"));
}

}  // namespace
}  // namespace ditto::peer
