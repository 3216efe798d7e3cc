// The fixture of the node-to-node copy tests: nodes A and B, each a dittod
// in its own network namespace (joined by a veth pair) with its own pool,
// talking the node-to-node service over mutual TLS (peer_nodes.h), and the
// checks those tests share.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "reliability/peer_nodes.h"
#include "support/require_root.h"
#include "support/temp_dir.h"

namespace ditto::reliability {

constexpr char kTopologyKey[] = "topology.ditto.csi.dev/node";

class PeerCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    ASSERT_TRUE(netns_.Create().ok());
    certs_dir_ = std::make_unique<test::TempDir>("ditto-peer-certs");
    certs_ = std::make_unique<Certificates>(certs_dir_->path());
    Status made = certs_->MakeCa("ca");
    ASSERT_TRUE(made.ok()) << made;
    auto tls_a = certs_->MakeNode("node-a", "node-a", "ca");
    auto tls_b = certs_->MakeNode("node-b", "node-b", "ca");
    ASSERT_TRUE(tls_a.ok() && tls_b.ok()) << tls_a.status() << tls_b.status();
    auto a = PeerNode::Make("node-a", netns_.a(), kAddressA,
                            {fmt::format("node-b={}:{}", kAddressB, kPeerPort)}, *tls_a);
    auto b = PeerNode::Make("node-b", netns_.b(), kAddressB,
                            {fmt::format("node-a={}:{}", kAddressA, kPeerPort)}, *tls_b);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    a_ = std::move(*a);
    b_ = std::move(*b);
  }

  void StartBoth() {
    Status started = a_->Start();
    ASSERT_TRUE(started.ok()) << started;
    started = b_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  pb::Volume MustCreate(PeerNode& node, const pb::CreateVolumeRequest& request,
                        std::vector<std::string>* progress = nullptr,
                        const std::function<void()>& between = {}) {
    auto volume = CreateUntilDone(node, request, progress, between);
    EXPECT_TRUE(volume.ok()) << volume.status();
    return volume.ok() ? *volume : pb::Volume();
  }

  // A mount volume on A holding an ext4 filesystem with `data_bytes` of
  // random file data (written into the image by mkfs.ext4 -d).
  std::string MakeFilesystemVolume(const std::string& name, int64_t bytes, size_t data_bytes) {
    pb::CreateVolumeResponse response;
    grpc::Status status = a_->csi->CreateVolume(VolumeRequest(name, bytes), &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    std::string id = response.volume().volume_id();
    test::TempDir content("ditto-peer-content");
    std::mt19937_64 random(data_bytes);
    for (size_t written = 0, n = 0; written < data_bytes; ++n) {
      std::string data(std::min<size_t>(8 << 20, data_bytes - written), '\0');
      for (size_t i = 0; i + 8 <= data.size(); i += 8) {
        uint64_t value = random();
        std::memcpy(&data[i], &value, 8);
      }
      EXPECT_TRUE(WriteFileSynced(content.Join(fmt::format("file-{}", n)), data).ok());
      written += data.size();
    }
    EXPECT_TRUE(WriteFileSynced(content.Join("hello.txt"), "hello from node A\n").ok());
    Status made = RunChecked(
        {"/usr/sbin/mkfs.ext4", "-q", "-F", "-d", content.path(), a_->ImagePath("volumes", id)});
    EXPECT_TRUE(made.ok()) << made;
    return id;
  }

  // The copy on B equals its source on A, byte for byte, and lives on B; B
  // has nothing under tmp/ and exactly `expected_volumes` volumes.
  void ExpectCopied(const std::string& source_kind, const std::string& source_id,
                    const pb::Volume& copy, int expected_volumes = 1) {
    ASSERT_FALSE(copy.volume_id().empty());
    ASSERT_EQ(copy.accessible_topology_size(), 1);
    EXPECT_EQ(copy.accessible_topology(0).segments().at(kTopologyKey), "node-b");
    ToolResult compared = RunTool({"/usr/bin/cmp", a_->ImagePath(source_kind, source_id),
                                   b_->ImagePath("volumes", copy.volume_id())});
    EXPECT_EQ(compared.exit_code, 0) << "the copy differs from its source: " << compared.output;
    ToolResult tmp = RunTool({"/usr/bin/ls", "-A", b_->pool_dir() + "/tmp"});
    EXPECT_EQ(tmp.output, "") << "left under tmp/ on node B";
    pb::ListVolumesResponse listed;
    ASSERT_TRUE(b_->csi->ListVolumes(&listed).ok());
    EXPECT_EQ(listed.entries_size(), expected_volumes);
  }

  NamespacePair netns_;
  std::unique_ptr<test::TempDir> certs_dir_;
  std::unique_ptr<Certificates> certs_;
  std::unique_ptr<PeerNode> a_, b_;
};

}  // namespace ditto::reliability
