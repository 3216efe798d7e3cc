// Clones and restores across nodes: two dittod on this machine, each in its
// own network namespace (joined by a veth pair) with its own pool on its own
// loop-mounted filesystem, talking the node-to-node service over mutual TLS
// with certificates made here by the openssl CLI (peer_nodes.h). A
// CreateVolume sent to node B whose source node A holds copies the data over
// the veth; the tests compare the images byte for byte, cut the link and
// kill the sender midway, count the bytes on the wire, and try peers with
// wrong certificates.
#include <signal.h>

#include <cstring>
#include <random>
#include <thread>

#include "fmt/format.h"
#include "reliability/peer_copy_fixture.h"

namespace ditto::reliability {
namespace {

using namespace std::chrono_literals;

TEST_F(PeerCopyTest, ClonesAFilesystemVolumeAndRestoresABlockSnapshot) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  std::string fs_volume = MakeFilesystemVolume("fs-source", 256 << 20, 24 << 20);
  ASSERT_FALSE(HasFailure());
  // New IDs carry their node's tag: B finds A from it.
  pb::CreateVolumeRequest clone = CloneRequest("fs-copy", fs_volume);
  RequireNode(clone, "node-b");
  std::vector<std::string> progress;
  pb::Volume copy = MustCreate(*b_, clone, &progress);
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("volumes", fs_volume, copy));
  ASSERT_FALSE(progress.empty()) << "the first call only starts the copy";
  EXPECT_NE(progress.front().find("being copied"), std::string::npos) << progress.front();
  // Repeated: the same volume, not a second one.
  pb::CreateVolumeResponse again;
  grpc::Status status = b_->csi->CreateVolume(clone, &again);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(again.volume().volume_id(), copy.volume_id());
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("volumes", fs_volume, copy));
  ToolResult fsck =
      RunTool({"/usr/sbin/e2fsck", "-f", "-n", b_->ImagePath("volumes", copy.volume_id())});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.output;

  // A block volume's snapshot, restored on B.
  pb::CreateVolumeResponse block;
  status = a_->csi->CreateVolume(BlockVolumeRequest("block-source", 64 << 20), &block);
  ASSERT_TRUE(status.ok()) << Describe(status);
  Status written =
      WriteSpread(a_->ImagePath("volumes", block.volume().volume_id()), 64 << 20, 8, 1 << 20);
  ASSERT_TRUE(written.ok()) << written;
  pb::CreateSnapshotResponse snapshot;
  status = a_->csi->CreateSnapshot("block-snap", block.volume().volume_id(), &snapshot);
  ASSERT_TRUE(status.ok()) << Describe(status);
  pb::CreateVolumeRequest restore =
      RestoreRequest("block-copy", snapshot.snapshot().snapshot_id());
  MakeBlock(restore);
  RequireNode(restore, "node-b");
  pb::Volume restored = MustCreate(*b_, restore);
  ASSERT_NO_FATAL_FAILURE(
      ExpectCopied("snapshots", snapshot.snapshot().snapshot_id(), restored, 2));
  EXPECT_NE(b_->Log().find("peer: copied"), std::string::npos);
}

TEST_F(PeerCopyTest, CutLinkAndKilledSenderOrReceiverRecover) {
  b_->options.extra_args.insert(b_->options.extra_args.end(), {"--peer-max-rate", "24Mi"});
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  std::string source = MakeFilesystemVolume("source", 512 << 20, 192 << 20);
  ASSERT_FALSE(HasFailure());

  // 1. The link goes down midway, and comes back.
  pb::CreateVolumeRequest clone = CloneRequest("copy-cut", source);
  RequireNode(clone, "node-b");
  bool cut = false, interrupted = false;
  pb::Volume copy = MustCreate(*b_, clone, nullptr, [&] {
    pb::ListVolumesResponse listed;
    EXPECT_TRUE(b_->csi->ListVolumes(&listed).ok());
    EXPECT_EQ(listed.entries_size(), 0) << "a partial volume is visible";
    std::string log = b_->Log();
    if (!cut && log.find(" MiB of ") != std::string::npos) {
      EXPECT_TRUE(netns_.SetLink(false).ok());
      cut = true;
    } else if (cut && !interrupted && log.find("interrupted") != std::string::npos) {
      interrupted = true;
      EXPECT_TRUE(netns_.SetLink(true).ok());
    }
  });
  EXPECT_TRUE(cut && interrupted) << "the link was not cut during the copy";
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("volumes", source, copy));
  // The retry went on from where the copy stopped, not from the start.
  std::string sent_log = a_->Log();
  size_t resumed = sent_log.find(fmt::format("peer: sending {} to node-b from offset ", source));
  ASSERT_NE(resumed, std::string::npos);
  resumed = sent_log.find(fmt::format("peer: sending {} to node-b from offset ", source),
                          resumed + 1);
  ASSERT_NE(resumed, std::string::npos) << "no second attempt";
  EXPECT_NE(sent_log.substr(sent_log.find("offset ", resumed), 9), "offset 0\n");

  // 2. The sender is killed midway and started again.
  pb::CreateVolumeRequest second = CloneRequest("copy-kill", source);
  RequireNode(second, "node-b");
  bool killed = false;
  size_t log_start = b_->Log().size();
  pb::Volume copy2 = MustCreate(*b_, second, nullptr, [&] {
    if (!killed && b_->Log().find(" MiB of ", log_start) != std::string::npos) {
      kill(a_->daemon->pid(), SIGKILL);
      (void)a_->daemon->WaitForExit(10s);
      a_->daemon.reset();
      killed = true;
      Status restarted = a_->Start();
      EXPECT_TRUE(restarted.ok()) << restarted;
    }
  });
  EXPECT_TRUE(killed) << "the sender was not killed during the copy";
  EXPECT_NE(b_->Log().find("interrupted", log_start), std::string::npos);
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("volumes", source, copy2, 2));

  // 3. The receiver is killed midway: what it wrote was never a volume, and
  // goes when it starts again; the retry starts the copy again.
  pb::CreateVolumeRequest third = CloneRequest("copy-receiver-killed", source);
  RequireNode(third, "node-b");
  bool receiver_killed = false;
  log_start = b_->Log().size();
  pb::Volume copy3 = MustCreate(*b_, third, nullptr, [&] {
    if (receiver_killed || b_->Log().find(" MiB of ", log_start) == std::string::npos) return;
    kill(b_->daemon->pid(), SIGKILL);
    (void)b_->daemon->WaitForExit(10s);
    b_->daemon.reset();
    receiver_killed = true;
    EXPECT_NE(RunTool({"/usr/bin/ls", "-A", b_->pool_dir() + "/tmp"}).output, "")
        << "no unfinished image under tmp/ while copying";
    Status restarted = b_->Start();
    ASSERT_TRUE(restarted.ok()) << restarted;
    EXPECT_EQ(RunTool({"/usr/bin/ls", "-A", b_->pool_dir() + "/tmp"}).output, "")
        << "the unfinished image outlived the restart";
    pb::ListVolumesResponse listed;
    EXPECT_TRUE(b_->csi->ListVolumes(&listed).ok());
    EXPECT_EQ(listed.entries_size(), 2) << "a partial volume is visible after the restart";
  });
  EXPECT_TRUE(receiver_killed) << "the receiver was not killed during the copy";
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("volumes", source, copy3, 3));
}

TEST_F(PeerCopyTest, SparseVolumeMovesOnlyItsData) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  constexpr int64_t kCapacity = int64_t{16} << 30;
  constexpr uint64_t kWritten = uint64_t{1} << 30;
  pb::CreateVolumeResponse block;
  grpc::Status status = a_->csi->CreateVolume(BlockVolumeRequest("sparse", kCapacity), &block);
  ASSERT_TRUE(status.ok()) << Describe(status);
  Status written = WriteSpread(a_->ImagePath("volumes", block.volume().volume_id()), kCapacity,
                               64, kWritten / 64);
  ASSERT_TRUE(written.ok()) << written;
  pb::CreateVolumeRequest clone = CloneRequest("sparse-copy", block.volume().volume_id());
  MakeBlock(clone);
  RequireNode(clone, "node-b");
  auto before = netns_.SentByA();
  ASSERT_TRUE(before.ok()) << before.status();
  pb::Volume copy = MustCreate(*b_, clone);
  auto after = netns_.SentByA();
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("volumes", block.volume().volume_id(), copy));
  uint64_t sent = *after - *before;
  std::cout << fmt::format(
      "a sparse 16 GiB volume with 1 GiB written: {} bytes crossed the link ({:.3f} x the data)\n",
      sent, static_cast<double>(sent) / kWritten);
  EXPECT_GE(sent, kWritten);
  EXPECT_LE(sent, kWritten + kWritten / 10) << "more than the data crossed the link";
}

TEST_F(PeerCopyTest, RefusesPeersWithWrongCertificates) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  pb::CreateVolumeResponse source;
  grpc::Status status = a_->csi->CreateVolume(BlockVolumeRequest("secret", 16 << 20), &source);
  ASSERT_TRUE(status.ok()) << Describe(status);
  Status made = certs_->MakeCa("other-ca");
  ASSERT_TRUE(made.ok()) << made;

  // Each impostor is a third dittod in B's namespace with its own pool; it
  // trusts the right CA, so only its own certificate is wrong.
  struct Impostor {
    std::string node;  // its --node-id and the name its certificate carries
    std::string ca;    // who signed its certificate
    grpc::StatusCode expected;
  };
  for (const Impostor& impostor :
       {Impostor{"node-c", "ca", grpc::StatusCode::PERMISSION_DENIED},
        Impostor{"node-b", "other-ca", grpc::StatusCode::UNAVAILABLE}}) {
    SCOPED_TRACE(impostor.node + " signed by " + impostor.ca);
    auto tls = certs_->MakeNode("impostor-" + impostor.ca, impostor.node, impostor.ca);
    ASSERT_TRUE(tls.ok()) << tls.status();
    made = RunChecked({"/usr/bin/cp", certs_dir_->Join("ca/ca.crt"), *tls + "/ca.crt"});
    ASSERT_TRUE(made.ok()) << made;
    auto c = PeerNode::Make(impostor.node, netns_.b(), "",
                            {fmt::format("node-a={}:{}", kAddressA, kPeerPort)}, *tls,
                            uint64_t{1} << 30);
    ASSERT_TRUE(c.ok()) << c.status();
    Status started = (*c)->Start();
    ASSERT_TRUE(started.ok()) << started;
    pb::CreateVolumeRequest clone = CloneRequest("stolen", source.volume().volume_id());
    MakeBlock(clone);
    RequireNode(clone, impostor.node);
    status = (*c)->csi->CreateVolume(clone, nullptr);
    EXPECT_EQ(status.error_code(), impostor.expected) << Describe(status);
    pb::ListVolumesResponse listed;
    ASSERT_TRUE((*c)->csi->ListVolumes(&listed).ok());
    EXPECT_EQ(listed.entries_size(), 0);
  }
  std::string log = a_->Log();
  EXPECT_NE(log.find("peer: refused GetImage"), std::string::npos) << log;
  EXPECT_EQ(log.find("peer: sending"), std::string::npos) << "A sent data to an impostor";
}

}  // namespace
}  // namespace ditto::reliability
