// A gtest fixture running one dittod over a fresh pool in a Workspace, with
// the checks every reliability test shares.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "reliability/death_watch.h"
#include "reliability/harness.h"
#include "reliability/pool_state.h"

namespace ditto::reliability {

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // (Re)starts dittod with DITTO_FAILPOINTS=`failpoints`; fails the test
  // (fatally, in the caller's ASSERT_NO_FATAL_FAILURE) if it does not start.
  void StartDaemon(const std::string& failpoints = "");
  // Stops dittod with SIGTERM and expects a clean exit.
  void StopDaemon();
  CsiClient& csi() { return *csi_; }
  Dittod& daemon() { return *daemon_; }

  // What a reboot (or a power cut) does to the kernel's state: kills dittod
  // (SIGKILL) if it runs, then unmounts every mount below the workspace
  // (publish and staging mounts, then the pool's backing filesystem) and
  // detaches every loop device backed by a file below it. The pool's files
  // and node records stay as they are. Fails (fatally) if anything remains.
  // `keep_mount` (a mount point below the workspace, "" for none) is the
  // host's own disk holding the pool's backing file: it stays mounted, as
  // the root filesystem stays across a reboot.
  void SimulateReboot(const std::string& keep_mount = "");

  // When set (before StartDaemon), the test process ends at once, with the
  // daemon's log, if dittod dies while the test has not stopped it (see
  // death_watch.h).
  bool end_test_if_daemon_dies_ = false;

  // Pool size for the daemon's backing file (before the first start).
  std::string pool_size_ = "512Mi";

  // With dittod stopped: reads the pool and returns every disagreement
  // between the catalog, the image files and the kernel's mounts and loop
  // devices (stage/publish records vs what is mounted). Empty: consistent.
  std::vector<std::string> PoolProblems(PoolState* state_out = nullptr);

  // Creates a volume, stages it, writes `files` (name -> content) into it,
  // unstages it. Returns the volume ID ("" after a test failure).
  std::string MakeVolumeWithFiles(const std::string& name, int64_t bytes,
                                  const std::vector<std::pair<std::string, std::string>>& files);

  // SHA-256 of an image in the pool (volume or snapshot).
  std::string VolumeHash(const std::string& volume_id);
  std::string SnapshotHash(const std::string& snapshot_id);

  Workspace work_;
  std::unique_ptr<Dittod> daemon_;
  std::unique_ptr<DeathWatch> death_watch_;  // declared after daemon_: destroyed before it
  std::unique_ptr<CsiClient> csi_;
};

// Number of failed assertions so far in the current test.
int FailureCount();

// Joins problems into one message.
std::string JoinLines(const std::vector<std::string>& lines);

}  // namespace ditto::reliability
