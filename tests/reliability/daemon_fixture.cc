#include "reliability/daemon_fixture.h"
#include "support/pool_paths.h"

#include <chrono>
#include <thread>

#include "fmt/format.h"
#include "host/linux_host.h"
#include "support/require_root.h"
#include "support/sha256.h"
#include "support/temp_dir.h"

namespace ditto::reliability {

int FailureCount() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return 0;
  const ::testing::TestResult* result = info->result();
  int failures = 0;
  for (int i = 0; i < result->total_part_count(); ++i) {
    if (result->GetTestPartResult(i).failed()) ++failures;
  }
  return failures;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "  " + line + "\n";
  return out;
}

void DaemonTest::SetUp() { DITTO_REQUIRE_ROOT(); }

void DaemonTest::TearDown() {
  death_watch_.reset();
  csi_.reset();
  daemon_.reset();  // SIGKILL if still running
  work_.Cleanup();
}

void DaemonTest::StartDaemon(const std::string& failpoints) {
  death_watch_.reset();
  csi_.reset();
  daemon_.reset();
  DaemonOptions options = work_.Options(failpoints);
  options.pool_size = pool_size_;
  auto started = Dittod::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  daemon_ = std::move(started).value();
  csi_ = std::make_unique<CsiClient>(daemon_->channel());
  if (end_test_if_daemon_dies_) {
    Dittod* daemon = daemon_.get();
    death_watch_ = std::make_unique<DeathWatch>(
        daemon_->pid(), [daemon] { return daemon->LogTail(); }, work_.path());
  }
}

void DaemonTest::StopDaemon() {
  ASSERT_NE(daemon_, nullptr);
  death_watch_.reset();
  csi_.reset();
  Status stopped = daemon_->Stop();
  daemon_.reset();
  ASSERT_TRUE(stopped.ok()) << stopped;
}

void DaemonTest::SimulateReboot(const std::string& keep_mount) {
  death_watch_.reset();
  csi_.reset();
  daemon_.reset();  // SIGKILL: nothing of dittod's runs past the cut
  // Volumes first: their loop devices keep the pool's filesystem busy.
  work_.ReleaseVolumes();
  host::LinuxHost host;
  if (keep_mount.empty()) {
    test::ReleaseMountsAndLoops(work_.path());
  } else if (IsMountPoint(work_.DataDir())) {
    // The pool's own filesystem goes; the disk its backing file lives on
    // stays (detaching the loop device below lets it go).
    Status unmounted = host.Unmount(work_.DataDir());
    ASSERT_TRUE(unmounted.ok()) << unmounted;
  }
  std::vector<std::string> left;
  for (const auto& line : MountTargets()) {
    std::string target = line.substr(0, line.find(" <- "));
    if (target == keep_mount) continue;
    if (target == work_.path() || target.rfind(work_.path() + "/", 0) == 0) left.push_back(line);
  }
  // A loop device detached while something still has it open (the kernel
  // finishing an unmount, udev) goes once the last user closes it.
  std::vector<std::string> loops_left;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto loops = host.ListLoops();
    ASSERT_TRUE(loops.ok()) << loops.status();
    loops_left.clear();
    for (const auto& loop : *loops) {
      if (loop.backing_file.rfind(work_.path() + "/", 0) == 0) {
        loops_left.push_back(loop.device + " backed by " + loop.backing_file);
        (void)host.DetachLoop(loop.device);
      }
    }
    if (loops_left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  left.insert(left.end(), loops_left.begin(), loops_left.end());
  ASSERT_TRUE(left.empty()) << "the simulated reboot left these behind:\n" << JoinLines(left);
}

std::vector<std::string> DaemonTest::PoolProblems(PoolState* state_out) {
  std::string data = work_.DataDir();
  auto state = ReadPoolState(data);
  if (!state.ok()) return {std::string(state.status().message())};
  std::vector<std::string> problems = Inconsistencies(*state);
  // The kernel must agree with the node records.
  for (const auto& [volume_id, staging] : state->stages) {
    if (!IsMountPoint(staging)) {
      problems.push_back(fmt::format("volume {} is recorded as staged at {}, which is not mounted",
                                     volume_id, staging));
    }
    if (LoopsBacking(test::PoolImagePath(data, "volumes", volume_id)).empty()) {
      problems.push_back(
          fmt::format("volume {} is recorded as staged but no loop device backs it", volume_id));
    }
  }
  for (const auto& [volume_id, target] : state->publishes) {
    if (!IsMountPoint(target)) {
      problems.push_back(fmt::format(
          "volume {} is recorded as published at {}, which is not mounted", volume_id, target));
    }
  }
  // And nothing is mounted or attached that no record explains.
  for (const auto& line : MountTargets()) {
    std::string target = line.substr(0, line.find(" <- "));
    bool under_stage = target.rfind(work_.Join("stage/"), 0) == 0;
    bool under_pub = target.rfind(work_.Join("pub/"), 0) == 0;
    if (!under_stage && !under_pub) continue;
    bool recorded = false;
    for (const auto& [id, staging] : state->stages) recorded |= staging == target;
    for (const auto& [id, published] : state->publishes) recorded |= published == target;
    if (!recorded) problems.push_back(fmt::format("{} is mounted but no record explains it", line));
  }
  for (const auto& [id, size] : state->volume_files) {
    if (state->stages.count(id)) continue;
    auto loops = LoopsBackingSettled(test::PoolImagePath(data, "volumes", id),
                                     std::chrono::seconds(10));
    if (!loops.empty()) {
      problems.push_back(fmt::format("volume {} has a loop device but no stage record: {}", id,
                                     fmt::join(loops, ", ")));
    }
  }
  if (state_out != nullptr) *state_out = std::move(*state);
  return problems;
}

std::string DaemonTest::MakeVolumeWithFiles(
    const std::string& name, int64_t bytes,
    const std::vector<std::pair<std::string, std::string>>& files) {
  pb::CreateVolumeResponse created;
  grpc::Status status = csi().CreateVolume(VolumeRequest(name, bytes), &created);
  EXPECT_TRUE(status.ok()) << "CreateVolume " << name << ": " << Describe(status);
  if (!status.ok()) return "";
  std::string id = created.volume().volume_id();
  std::string staging = work_.StagingPath(name);
  status = csi().NodeStage(id, staging);
  EXPECT_TRUE(status.ok()) << "NodeStage " << name << ": " << Describe(status);
  if (!status.ok()) return "";
  for (const auto& [file, content] : files) {
    Status written = WriteFileSynced(staging + "/" + file, content);
    EXPECT_TRUE(written.ok()) << written;
  }
  status = csi().NodeUnstage(id, staging);
  EXPECT_TRUE(status.ok()) << "NodeUnstage " << name << ": " << Describe(status);
  return id;
}

std::string DaemonTest::VolumeHash(const std::string& volume_id) {
  auto hash = test::Sha256File(test::PoolImagePath(work_.DataDir(), "volumes", volume_id));
  return hash.ok() ? *hash : "unreadable: " + std::string(hash.status().message());
}

std::string DaemonTest::SnapshotHash(const std::string& snapshot_id) {
  auto hash = test::Sha256File(test::PoolImagePath(work_.DataDir(), "snapshots", snapshot_id));
  return hash.ok() ? *hash : "unreadable: " + std::string(hash.status().message());
}

}  // namespace ditto::reliability
