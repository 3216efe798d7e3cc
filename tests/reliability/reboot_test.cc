// A reboot on the real host: with volumes staged and published, dittod dies,
// every mount below the test's directory goes (publish and staging mounts,
// the pool's backing filesystem) and every loop device is detached. A new
// dittod re-mounts the pool by itself; once the caller repeats NodeStage and
// NodePublish (as kubelet does after a reboot), the volumes serve their data
// again, and the node records agree with the kernel.
#include <cstdio>

#include "fmt/format.h"
#include "reliability/daemon_fixture.h"
#include "support/sha256.h"
#include "support/test_data.h"

namespace ditto::reliability {
namespace {

class RebootTest : public DaemonTest {};

TEST_F(RebootTest, StagedVolumesServeAgainAfterStageAndPublishAreRepeated) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  struct Staged {
    std::string id, staging, target, file, content;
  };
  std::vector<Staged> volumes;
  for (int i = 0; i < 3; ++i) {
    std::string name = fmt::format("rebooted-{}", i);
    pb::CreateVolumeResponse created;
    grpc::Status status = csi().CreateVolume(VolumeRequest(name, 32 << 20), &created);
    ASSERT_TRUE(status.ok()) << Describe(status);
    Staged v{created.volume().volume_id(), work_.StagingPath(name),
             i < 2 ? work_.TargetPath(name) : "", "data.bin", test::PatternData(1 << 20, 40 + i)};
    ASSERT_TRUE(csi().NodeStage(v.id, v.staging).ok());
    // Two published, one only staged.
    std::string path = v.staging;
    if (!v.target.empty()) {
      ASSERT_TRUE(csi().NodePublish(v.id, v.staging, v.target).ok());
      path = v.target;
    }
    ASSERT_TRUE(WriteFileSynced(path + "/" + v.file, v.content).ok());
    volumes.push_back(v);
  }

  ASSERT_NO_FATAL_FAILURE(SimulateReboot());
  ASSERT_FALSE(IsMountPoint(work_.DataDir())) << "the pool is still mounted";

  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  ASSERT_TRUE(IsMountPoint(work_.DataDir())) << "dittod did not re-mount the pool";
  pb::ListVolumesResponse listed;
  ASSERT_TRUE(csi().ListVolumes(&listed).ok());
  EXPECT_EQ(listed.entries_size(), 3);
  int served = 0;
  for (const Staged& v : volumes) {
    SCOPED_TRACE(v.id);
    grpc::Status staged = csi().NodeStage(v.id, v.staging);
    ASSERT_TRUE(staged.ok()) << "NodeStage after the reboot: " << Describe(staged);
    EXPECT_TRUE(IsMountPoint(v.staging));
    std::string path = v.staging;
    if (!v.target.empty()) {
      grpc::Status published = csi().NodePublish(v.id, v.staging, v.target);
      ASSERT_TRUE(published.ok()) << "NodePublish after the reboot: " << Describe(published);
      EXPECT_TRUE(IsMountPoint(v.target));
      path = v.target;
    }
    auto content = ReadWholeFile(path + "/" + v.file);
    ASSERT_TRUE(content.ok()) << content.status();
    EXPECT_TRUE(*content == v.content) << "the file written before the reboot changed";
    Status written = WriteFileSynced(path + "/after-reboot", "still writable");
    EXPECT_TRUE(written.ok()) << written;
    pb::NodeGetVolumeStatsResponse stats;
    grpc::Status stat = csi().NodeGetVolumeStats(v.id, path, &stats);
    EXPECT_TRUE(stat.ok()) << Describe(stat);
    EXPECT_FALSE(stats.volume_condition().abnormal()) << stats.volume_condition().message();
    if (content.ok() && *content == v.content && written.ok()) ++served;
  }
  // With dittod stopped, the node records agree with the kernel's mounts and
  // loop devices.
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  auto problems = PoolProblems();
  EXPECT_TRUE(problems.empty()) << "after the reboot:\n" << JoinLines(problems);

  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  for (const Staged& v : volumes) {
    if (!v.target.empty()) {
      EXPECT_TRUE(csi().NodeUnpublish(v.id, v.target).ok());
    }
    EXPECT_TRUE(csi().NodeUnstage(v.id, v.staging).ok());
  }
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  problems = PoolProblems();
  EXPECT_TRUE(problems.empty()) << JoinLines(problems);
  std::printf(
      "reboot: pool unmounted, every loop device detached; %d of %zu staged volumes served "
      "their data again after NodeStage/NodePublish were repeated\n",
      served, volumes.size());
  EXPECT_EQ(served, static_cast<int>(volumes.size()));
}

}  // namespace
}  // namespace ditto::reliability
