// The reliability harness: a real dittod as a child process over a temporary
// pool, CSI clients for it, and cleanup that leaves no mount, loop device or
// process behind even when a test fails midway.
//
//   DITTO_REQUIRE_ROOT();
//   Workspace work;                        // /tmp/ditto-reliability-XXXXXX
//   auto daemon = Dittod::Start(work.DaemonOptions());
//   ASSERT_TRUE(daemon.ok()) << daemon.status();
//   CsiClient csi((*daemon)->channel());
//   auto volume = csi.CreateVolume(csi::MountVolumeRequest("a", 32 << 20));
//
// The daemon binary is the one this build made (DITTOD_PATH), or $DITTOD.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "csi.grpc.pb.h"
#include "support/temp_dir.h"

namespace ditto::reliability {

namespace pb = ::csi::v1;

struct DaemonOptions {
  std::string socket_path;  // absolute
  std::string pool_dir;     // absolute; initialised on first start
  std::string pool_size = "512Mi";
  std::string node_id = "reliability-node";
  // DITTO_FAILPOINTS for this run ("" = none).
  std::string failpoints;
  // stdout and stderr of the daemon are appended here.
  std::string log_path;
  // A program that runs dittod, argv before dittod's own (e.g.
  // {"/usr/bin/nsenter", "--net=/run/netns/NS", "--"}: it must exec dittod,
  // keeping its PID); empty: none.
  std::vector<std::string> wrapper;
  // More dittod flags.
  std::vector<std::string> extra_args;
};

// One dittod process, started by fork+execve (argv, no shell) and stopped by
// its PID only. The child dies with the test process (PR_SET_PDEATHSIG).
class Dittod {
 public:
  // Starts dittod and waits until Probe answers ready (at most 30 s). Fails
  // with the tail of the log when the daemon exits or never gets ready.
  static StatusOr<std::unique_ptr<Dittod>> Start(const DaemonOptions& options);
  // Kills the daemon (SIGKILL) if it still runs, and reaps it.
  ~Dittod();
  Dittod(const Dittod&) = delete;
  Dittod& operator=(const Dittod&) = delete;

  pid_t pid() const { return pid_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // SIGTERM, then waits (at most 30 s) for a clean exit; error if the exit
  // code is not 0 or it had to be killed.
  Status Stop();
  // Waits at most `timeout` for the process to end on its own; returns the
  // raw wait status. DeadlineExceeded if it still runs.
  StatusOr<int> WaitForExit(std::chrono::milliseconds timeout);
  // Whether the process is still running (not reaped).
  bool Running();
  // The last `bytes` of the daemon's log, for failure messages.
  std::string LogTail(size_t bytes = 4000) const;

 private:
  Dittod(DaemonOptions options, pid_t pid);

  DaemonOptions options_;
  pid_t pid_;
  bool reaped_ = false;
  int wait_status_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

// Path of the dittod binary under test.
std::string DittodPath();

// A temporary directory for one test: pool/, socket, staging and target
// directories. Cleanup() (and the destructor) unmounts staging and publish
// mounts, detaches the volumes' loop devices, then unmounts the pool's
// backing filesystem and detaches its loop device, in that order.
class Workspace {
 public:
  explicit Workspace(std::string_view prefix = "ditto-reliability");
  ~Workspace();

  const std::string& path() const { return dir_.path(); }
  std::string Join(std::string_view name) const { return dir_.Join(name); }
  std::string pool_dir() const { return Join("pool"); }
  // Where the pool keeps catalog.db, volumes/, snapshots/, tmp/: pool/data
  // when dittod made a backing file, else pool/ itself.
  std::string DataDir() const;
  std::string socket_path() const { return Join("csi.sock"); }
  DaemonOptions Options(std::string failpoints = "") const;
  // Makes (if missing) and returns <workspace>/stage/<name>, <workspace>/pub/<name>.
  std::string StagingPath(std::string_view name) const;
  std::string TargetPath(std::string_view name) const;

  void Cleanup();
  // Cleanup's first two steps: staging and publish mounts, then the
  // volumes' loop devices (which keep the pool's filesystem busy).
  void ReleaseVolumes();

 private:
  test::TempDir dir_;
};

// Thin synchronous wrappers over the generated stubs, each with a deadline.
class CsiClient {
 public:
  explicit CsiClient(std::shared_ptr<grpc::Channel> channel,
                     std::chrono::seconds deadline = std::chrono::seconds(60));

  grpc::Status Probe(pb::ProbeResponse* response = nullptr);
  grpc::Status CreateVolume(const pb::CreateVolumeRequest& request,
                            pb::CreateVolumeResponse* response = nullptr);
  grpc::Status DeleteVolume(const std::string& volume_id);
  grpc::Status CreateSnapshot(const std::string& name, const std::string& source_volume_id,
                              pb::CreateSnapshotResponse* response = nullptr);
  grpc::Status DeleteSnapshot(const std::string& snapshot_id);
  grpc::Status ControllerExpandVolume(const std::string& volume_id, int64_t bytes,
                                      pb::ControllerExpandVolumeResponse* response = nullptr);
  grpc::Status ListVolumes(pb::ListVolumesResponse* response);
  grpc::Status GetCapacity(pb::GetCapacityResponse* response);
  grpc::Status NodeStage(const std::string& volume_id, const std::string& staging_path,
                         const std::string& fs_type = "ext4");
  grpc::Status NodeUnstage(const std::string& volume_id, const std::string& staging_path);
  grpc::Status NodePublish(const std::string& volume_id, const std::string& staging_path,
                           const std::string& target_path, bool read_only = false);
  grpc::Status NodeUnpublish(const std::string& volume_id, const std::string& target_path);
  grpc::Status NodeGetVolumeStats(const std::string& volume_id, const std::string& path,
                                  pb::NodeGetVolumeStatsResponse* response);

  // Raw stubs, for hostile requests built field by field.
  pb::Identity::Stub& identity() { return *identity_; }
  pb::Controller::Stub& controller() { return *controller_; }
  pb::Node::Stub& node() { return *node_; }
  // A context with this client's deadline.
  std::unique_ptr<grpc::ClientContext> Context() const;

 private:
  std::chrono::seconds deadline_;
  std::unique_ptr<pb::Identity::Stub> identity_;
  std::unique_ptr<pb::Controller::Stub> controller_;
  std::unique_ptr<pb::Node::Stub> node_;
};

// Request builders.
pb::VolumeCapability MountCapability(const std::string& fs_type = "ext4");
pb::VolumeCapability BlockCapability();
pb::CreateVolumeRequest VolumeRequest(const std::string& name, int64_t bytes,
                                      const std::string& fs_type = "ext4");
pb::CreateVolumeRequest CloneRequest(const std::string& name, const std::string& source_volume_id,
                                     int64_t bytes = 0);
pb::CreateVolumeRequest RestoreRequest(const std::string& name, const std::string& snapshot_id,
                                       int64_t bytes = 0);

// "CODE: message" of a gRPC status, for assertion messages.
std::string Describe(const grpc::Status& status);

// Runs `argv` (execve through host::LinuxHost::Run, no shell).
struct ToolResult {
  int exit_code = -1;
  std::string output;  // stdout then stderr
};
ToolResult RunTool(const std::vector<std::string>& argv);

// The kernel's tables. Each fails the current test when it cannot read the
// table (an unreadable table never reads as "nothing mounted/attached").
// Loop devices whose backing file is `image` (resolved).
std::vector<std::string> LoopsBacking(const std::string& image);
// The same, after waiting (up to `timeout`) for detaches the kernel deferred:
// LOOP_CLR_FD on a device that another process (udev's probe) still holds only
// marks it autoclear, and the device goes on the last close. A device still
// there after the wait is reported with its autoclear flag, so a leak (0) and
// a detach that is merely slow (1) read differently.
std::vector<std::string> LoopsBackingSettled(const std::string& image,
                                             std::chrono::milliseconds timeout);
// Whether something is mounted exactly at `path`.
bool IsMountPoint(const std::string& path);
// Every mount as "target <- source", sorted (to compare before/after).
std::vector<std::string> MountTargets();

// Writes `data` to `path` and fsyncs it (and its directory).
Status WriteFileSynced(const std::string& path, const std::string& data);
StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace ditto::reliability
