// Full disk: a 320Mi pool filled with thick volumes. The request that no
// longer fits fails RESOURCE_EXHAUSTED with a message saying what to do,
// nothing of it remains, earlier volumes keep their content, the catalog
// stays consistent, and once space is freed the same request succeeds.
#include <cstdio>
#include <set>

#include "fmt/format.h"
#include "reliability/daemon_fixture.h"
#include "support/test_data.h"
#include "support/pool_paths.h"

namespace ditto::reliability {
namespace {

pb::CreateVolumeRequest ThickRequest(const std::string& name, int64_t bytes) {
  pb::CreateVolumeRequest request = VolumeRequest(name, bytes);
  (*request.mutable_parameters())["thick"] = "true";
  return request;
}

// The IDs ListVolumes returns (CSI responses carry no names).
std::set<std::string> ListedIds(CsiClient& csi) {
  pb::ListVolumesResponse listed;
  grpc::Status status = csi.ListVolumes(&listed);
  EXPECT_TRUE(status.ok()) << Describe(status);
  std::set<std::string> ids;
  for (const auto& entry : listed.entries()) ids.insert(entry.volume().volume_id());
  return ids;
}

class FullDiskTest : public DaemonTest {
 protected:
  FullDiskTest() { pool_size_ = "320Mi"; }
};

TEST_F(FullDiskTest, FailsCleanlyAndRecoversWhenSpaceIsFreed) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  std::string precious =
      MakeVolumeWithFiles("precious", 32 << 20, {{"data", test::PatternData(4 << 20, 7)}});
  ASSERT_FALSE(precious.empty());
  std::string precious_hash = VolumeHash(precious);
  pb::CreateSnapshotResponse snapshot;
  ASSERT_TRUE(csi().CreateSnapshot("precious-snap", precious, &snapshot).ok());
  pb::GetCapacityResponse before;
  ASSERT_TRUE(csi().GetCapacity(&before).ok());
  // A thin volume made while there is space, staged (mkfs) once the pool is
  // full.
  pb::CreateVolumeResponse unformatted;
  grpc::Status made = csi().CreateVolume(VolumeRequest("stage-on-full", 16 << 20), &unformatted);
  ASSERT_TRUE(made.ok()) << Describe(made);
  std::set<std::string> made_ids = {precious, unformatted.volume().volume_id()};

  // Fill with 48Mi thick volumes, then 4Mi, then 256Ki ones, until each fails.
  std::vector<std::string> fillers;
  grpc::Status failed;
  std::string failed_name;
  int64_t failed_bytes = 0;
  for (int64_t bytes : {int64_t{48} << 20, int64_t{4} << 20, int64_t{256} << 10}) {
    for (int i = 0; i < 200; ++i) {
      std::string name = fmt::format("filler-{}", fillers.size());
      pb::CreateVolumeResponse created;
      grpc::Status status = csi().CreateVolume(ThickRequest(name, bytes), &created);
      if (!status.ok()) {
        failed = status;
        failed_name = name;
        failed_bytes = bytes;
        break;
      }
      fillers.push_back(created.volume().volume_id());
      made_ids.insert(created.volume().volume_id());
    }
    ASSERT_FALSE(failed.ok()) << "a 320Mi pool took 200 more thick volumes";
    EXPECT_EQ(failed.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(failed);
    EXPECT_NE(failed.error_message().find("space"), std::string::npos)
        << "the message does not say that space ran out: " << failed.error_message();
  }
  std::printf("full disk: %zu thick volumes filled the 320Mi pool; the next one: %s\n",
              fillers.size(), Describe(failed).c_str());

  // On a full pool, every other request either works or is RESOURCE_EXHAUSTED.
  int other_requests = 0;
  auto work_or_exhausted = [&](const grpc::Status& status, const char* what,
                               const std::string& made_id = "") {
    ++other_requests;
    std::printf("full disk:   %s -> %s\n", what, Describe(status).substr(0, 160).c_str());
    EXPECT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << what << " on a full pool: " << Describe(status);
    if (status.ok() && !made_id.empty()) made_ids.insert(made_id);
  };
  pb::CreateVolumeResponse thin, clone, thick, thick_clone_made;
  // Each call first: the ID it answers is read only after it returned.
  grpc::Status status = csi().CreateVolume(VolumeRequest("thin-on-full", 16 << 20), &thin);
  work_or_exhausted(status, "thin CreateVolume", thin.volume().volume_id());
  status = csi().CreateVolume(CloneRequest("clone-on-full", precious), &clone);
  work_or_exhausted(status, "clone", clone.volume().volume_id());
  work_or_exhausted(csi().CreateSnapshot("snap-on-full", precious), "CreateSnapshot");
  status = csi().CreateVolume(ThickRequest("thick-clone-on-full", 0), &thick);
  work_or_exhausted(status, "thick CreateVolume of the default 1Gi", thick.volume().volume_id());
  pb::CreateVolumeRequest thick_clone = CloneRequest("thick-clone-of-precious", precious);
  (*thick_clone.mutable_parameters())["thick"] = "true";
  status = csi().CreateVolume(thick_clone, &thick_clone_made);
  work_or_exhausted(status, "thick clone", thick_clone_made.volume().volume_id());
  {
    const std::string& id = unformatted.volume().volume_id();
    std::string staging = work_.StagingPath("stage-on-full");
    grpc::Status staged = csi().NodeStage(id, staging);
    // mkfs writes metadata; on a full pool that may fail, but must say so
    // and leave nothing behind.
    ++other_requests;
    std::printf("full disk:   NodeStage (mkfs) -> %s\n", Describe(staged).substr(0, 160).c_str());
    EXPECT_TRUE(staged.ok() || staged.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << Describe(staged);
    if (staged.ok()) {
      EXPECT_TRUE(IsMountPoint(staging));
      EXPECT_TRUE(csi().NodeUnstage(id, staging).ok());
    } else {
      EXPECT_FALSE(IsMountPoint(staging)) << "a failed stage left a mount";
      EXPECT_TRUE(LoopsBacking(test::PoolImagePath(work_.DataDir(), "volumes", id)).empty())
          << "a failed stage left a loop device";
    }
  }
  // Exactly the volumes answered OK exist: the failed creates left none.
  EXPECT_EQ(ListedIds(csi()), made_ids);
  EXPECT_EQ(VolumeHash(precious), precious_hash) << "a full pool changed an existing volume";

  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  PoolState state;
  auto problems = PoolProblems(&state);
  EXPECT_TRUE(problems.empty()) << "the pool is inconsistent when full:\n" << JoinLines(problems);
  for (const auto& [id, volume] : state.volumes) {
    EXPECT_NE(volume.name, failed_name) << "the failed volume left a record";
  }

  // Free space, and the request that failed now succeeds.
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  for (int i = 0; i < 2 && !fillers.empty(); ++i) {
    grpc::Status deleted = csi().DeleteVolume(fillers.back());
    ASSERT_TRUE(deleted.ok()) << Describe(deleted);
    fillers.pop_back();
  }
  grpc::Status retried = csi().CreateVolume(ThickRequest(failed_name, failed_bytes));
  EXPECT_TRUE(retried.ok()) << "after freeing space: " << Describe(retried);
  std::string staging = work_.StagingPath("precious");
  ASSERT_TRUE(csi().NodeStage(precious, staging).ok());
  auto data = ReadWholeFile(staging + "/data");
  ASSERT_TRUE(data.ok());
  EXPECT_TRUE(*data == test::PatternData(4 << 20, 7)) << "the precious volume's file changed";
  EXPECT_TRUE(csi().NodeUnstage(precious, staging).ok());
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  problems = PoolProblems();
  EXPECT_TRUE(problems.empty()) << JoinLines(problems);
  std::printf(
      "full disk: %d other requests on the full pool each worked or said "
      "RESOURCE_EXHAUSTED; after freeing space the failed create succeeded: %s\n",
      other_requests, retried.ok() ? "yes" : "no");
}

}  // namespace
}  // namespace ditto::reliability
