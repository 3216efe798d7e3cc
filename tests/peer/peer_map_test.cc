#include "peer/peer_map.h"

#include <gtest/gtest.h>

#include "common/ids.h"

namespace ditto::peer {
namespace {

TEST(PeerMapTest, ParsesPeerFlags) {
  auto peer = ParsePeerFlag("node-b=10.0.0.2:9811");
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->node_id, "node-b");
  EXPECT_EQ(peer->host, "10.0.0.2");
  EXPECT_EQ(peer->port, 9811);
  EXPECT_EQ(peer->tag, NodeTag("node-b"));
  EXPECT_EQ(peer->Target(), "10.0.0.2:9811");
  auto v6 = ParsePeerFlag("n=[fd00::2]:1");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "fd00::2");
  EXPECT_EQ(v6->Target(), "[fd00::2]:1");
}

TEST(PeerMapTest, RefusesMalformedPeerFlags) {
  for (const char* bad : {"", "node-b", "=10.0.0.2:1", "node-b=10.0.0.2", "node-b=:1",
                          "node-b=10.0.0.2:0", "node-b=10.0.0.2:65536", "node-b=10.0.0.2:x",
                          "node-b=a/b:1", "node b=10.0.0.2:1", "node-b=10.0.0.2:1 "}) {
    auto peer = ParsePeerFlag(bad);
    EXPECT_EQ(peer.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PeerMapTest, FindsTheNodeThatMadeAnId) {
  auto b = ParsePeerFlag("node-b=10.0.0.2:9811");
  auto c = ParsePeerFlag("node-c=10.0.0.3:9811");
  ASSERT_TRUE(b.ok() && c.ok());
  auto self = ParsePeerFlag("node-a=10.0.0.1:9811");  // its own entry is dropped
  auto map = PeerMap::Make("node-a", {*self, *b, *c});
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->peers().size(), 2u);

  const PeerAddress* holder = map->HolderOf(NewVolumeId(NodeTag("node-b")));
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->node_id, "node-b");
  holder = map->HolderOf(NewSnapshotId(NodeTag("node-c")));
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->node_id, "node-c");
  // This node's own IDs, and IDs of no known node, are local.
  EXPECT_EQ(map->HolderOf(NewVolumeId(NodeTag("node-a"))), nullptr);
  EXPECT_EQ(map->HolderOf(NewVolumeId(NodeTag("node-z"))), nullptr);
  EXPECT_EQ(map->HolderOf("vol-../../etc"), nullptr);
  EXPECT_EQ(map->HolderOf("group-" + NodeTag("node-b") + std::string(24, '0')), nullptr);
  ASSERT_NE(map->Find("node-c"), nullptr);
  EXPECT_EQ(map->Find("node-a"), nullptr);
}

TEST(PeerMapTest, RefusesDuplicateNodes) {
  auto b = ParsePeerFlag("node-b=10.0.0.2:9811");
  auto b2 = ParsePeerFlag("node-b=10.0.0.9:9811");
  ASSERT_TRUE(b.ok() && b2.ok());
  auto map = PeerMap::Make("node-a", {*b, *b2});
  EXPECT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument);
}

// Two node IDs whose tags collide, found by search (2^32 tags: a birthday
// search over a few hundred thousand names finds one).
TEST(PeerMapTest, RefusesNodesSharingATag) {
  std::map<std::string, std::string> seen;
  std::string first, second;
  for (int i = 0; first.empty() && i < 1'000'000; ++i) {
    std::string name = "n" + std::to_string(i);
    auto [it, inserted] = seen.emplace(NodeTag(name), name);
    if (!inserted) {
      first = it->second;
      second = name;
    }
  }
  ASSERT_FALSE(first.empty()) << "no two names with one tag among a million";
  ASSERT_EQ(NodeTag(first), NodeTag(second));
  auto one = ParsePeerFlag(first + "=10.0.0.2:1");
  auto two = ParsePeerFlag(second + "=10.0.0.3:1");
  ASSERT_TRUE(one.ok() && two.ok());
  auto map = PeerMap::Make("node-a", {*one, *two});
  EXPECT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(map.status().message().find("same ID tag"), std::string::npos);
  // This node against a peer, too.
  auto with_self = PeerMap::Make(first, {*two});
  EXPECT_EQ(with_self.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ditto::peer
