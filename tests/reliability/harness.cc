#include "common/status.h"
#include "reliability/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "host/linux_host.h"

extern char** environ;

namespace ditto::reliability {
namespace {

using namespace std::chrono_literals;

bool AtOrBelow(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

void Report(const std::string& what, const Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "reliability cleanup: %s: %s\n", what.c_str(),
                 std::string(status.message()).c_str());
  }
}

}  // namespace

std::string DittodPath() {
  const char* override_path = std::getenv("DITTOD");
  if (override_path != nullptr && *override_path != '\0') return override_path;
#ifdef DITTOD_PATH
  return DITTOD_PATH;
#else
  return "dittod";
#endif
}

// ---- Dittod ----

Dittod::Dittod(DaemonOptions options, pid_t pid) : options_(std::move(options)), pid_(pid) {}

StatusOr<std::unique_ptr<Dittod>> Dittod::Start(const DaemonOptions& options) {
  std::string binary = DittodPath();
  std::vector<std::string> args = {
      binary,           "--endpoint",    "unix://" + options.socket_path,
      "--node-id",      options.node_id, "--pool",
      options.pool_dir, "--pool-size",   options.pool_size};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  args.insert(args.begin(), options.wrapper.begin(), options.wrapper.end());
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "DITTO_FAILPOINTS=", 17) != 0) env.emplace_back(*entry);
  }
  if (!options.failpoints.empty()) env.push_back("DITTO_FAILPOINTS=" + options.failpoints);
  std::vector<char*> argv, envp;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  for (auto& var : env) envp.push_back(var.data());
  envp.push_back(nullptr);

  // A socket left by an earlier (crashed) daemon must not count as ready.
  // (Inode numbers are reused at once, so compare the change time too.)
  auto identity = [&](const struct stat& info) {
    return fmt::format("{}/{}.{}", info.st_ino, info.st_ctim.tv_sec, info.st_ctim.tv_nsec);
  };
  struct stat stale;
  std::string stale_identity =
      ::stat(options.socket_path.c_str(), &stale) == 0 ? identity(stale) : "";
  int log_fd = open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    return absl::InternalError(
        fmt::format("cannot open {}: {}", options.log_path, std::strerror(errno)));
  }
  std::string banner = fmt::format("==== dittod start (DITTO_FAILPOINTS={}) ====\n",
                                   options.failpoints.empty() ? "<none>" : options.failpoints);
  (void)!write(log_fd, banner.data(), banner.size());
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError(fmt::format("fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until execve.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  std::unique_ptr<Dittod> daemon(new Dittod(options, pid));
  // A fresh channel per attempt: a channel that failed to connect backs off
  // for seconds before it tries again.
  auto make_channel = [&] {
    grpc::ChannelArguments channel_args;
    channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
    channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
    channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    return grpc::CreateCustomChannel("unix://" + options.socket_path,
                                     grpc::InsecureChannelCredentials(), channel_args);
  };
  auto give_up = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < give_up) {
    if (!daemon->Running()) {
      return absl::FailedPreconditionError(
          fmt::format("dittod exited during start-up (wait status {:#x}); log:\n{}",
                      daemon->wait_status_, daemon->LogTail()));
    }
    struct stat info;
    if (::stat(options.socket_path.c_str(), &info) == 0 && identity(info) != stale_identity) {
      auto channel = make_channel();
      CsiClient client(channel, std::chrono::seconds(2));
      pb::ProbeResponse probe;
      grpc::Status status = client.Probe(&probe);
      if (status.ok() && (!probe.has_ready() || probe.ready().value())) {
        daemon->channel_ = channel;
        return daemon;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  return absl::DeadlineExceededError(
      fmt::format("dittod did not get ready within 30 s; log:\n{}", daemon->LogTail()));
}

Dittod::~Dittod() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
  }
}

bool Dittod::Running() {
  if (reaped_) return false;
  int status = 0;
  pid_t got = waitpid(pid_, &status, WNOHANG);
  if (got == pid_) {
    reaped_ = true;
    wait_status_ = status;
    return false;
  }
  return true;
}

StatusOr<int> Dittod::WaitForExit(std::chrono::milliseconds timeout) {
  auto give_up = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() >= give_up) {
      return absl::DeadlineExceededError(
          fmt::format("dittod (pid {}) still runs after {} ms", pid_, timeout.count()));
    }
    std::this_thread::sleep_for(10ms);
  }
  return wait_status_;
}

Status Dittod::Stop() {
  if (!Running()) {
    return absl::FailedPreconditionError(fmt::format(
        "dittod had already exited (wait status {:#x}); log:\n{}", wait_status_, LogTail()));
  }
  // Close our connection first: the server's shutdown waits for open ones.
  channel_.reset();
  kill(pid_, SIGTERM);
  auto exited = WaitForExit(30s);
  if (!exited.ok()) {
    kill(pid_, SIGKILL);
    (void)WaitForExit(10s);
    return absl::DeadlineExceededError(
        fmt::format("dittod did not stop within 30 s of SIGTERM; log:\n{}", LogTail()));
  }
  if (!WIFEXITED(*exited) || WEXITSTATUS(*exited) != 0) {
    return absl::InternalError(
        fmt::format("dittod did not exit cleanly after SIGTERM (wait status {:#x}); log:\n{}",
                    *exited, LogTail()));
  }
  return absl::OkStatus();
}

std::string Dittod::LogTail(size_t bytes) const {
  std::ifstream in(options_.log_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  return all.size() <= bytes ? all : all.substr(all.size() - bytes);
}

// ---- Workspace ----

Workspace::Workspace(std::string_view prefix) : dir_(prefix) {
  ::mkdir(Join("stage").c_str(), 0750);
  ::mkdir(Join("pub").c_str(), 0750);
}

Workspace::~Workspace() { Cleanup(); }

std::string Workspace::DataDir() const {
  std::string data = pool_dir() + "/data";
  struct stat info;
  return ::stat(data.c_str(), &info) == 0 && S_ISDIR(info.st_mode) ? data : pool_dir();
}

DaemonOptions Workspace::Options(std::string failpoints) const {
  DaemonOptions options;
  options.socket_path = socket_path();
  options.pool_dir = pool_dir();
  options.failpoints = std::move(failpoints);
  options.log_path = Join("dittod.log");
  return options;
}

std::string Workspace::StagingPath(std::string_view name) const {
  std::string path = Join("stage/" + std::string(name));
  ::mkdir(path.c_str(), 0750);
  return path;
}

std::string Workspace::TargetPath(std::string_view name) const {
  // The CO creates the parent; the driver creates the target itself.
  return Join("pub/" + std::string(name));
}

void Workspace::Cleanup() {
  ReleaseVolumes();
  // 3. The pool's backing filesystem and everything else.
  dir_.Cleanup();
}

void Workspace::ReleaseVolumes() {
  host::LinuxHost host;
  const std::string pool = pool_dir();
  const std::string data = DataDir();
  // 1. Staging and publish mounts (deepest first), never the pool itself.
  for (int round = 0; round < 8; ++round) {
    auto mounts = host.ListMounts();
    if (!mounts.ok()) break;
    std::vector<std::string> targets;
    for (const auto& mount : *mounts) {
      if (AtOrBelow(mount.target, path()) && !AtOrBelow(mount.target, pool)) {
        targets.push_back(mount.target);
      }
    }
    if (targets.empty()) break;
    std::sort(targets.begin(), targets.end(),
              [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const auto& target : targets) {
      (void)host.Thaw(target);
      Status status = host.Unmount(target);
      if (!status.ok() && !absl::IsNotFound(status))
        Report("unmount " + target, host.UnmountLazily(target));
    }
  }
  // 2. The volumes' loop devices (backed by images in the pool).
  if (auto loops = host.ListLoops(); loops.ok()) {
    for (const auto& loop : *loops) {
      if (AtOrBelow(loop.backing_file, data) && loop.backing_file != pool + "/backing.img") {
        Report("detach " + loop.device, host.DetachLoop(loop.device));
      }
    }
  }
}

// ---- CsiClient ----

CsiClient::CsiClient(std::shared_ptr<grpc::Channel> channel, std::chrono::seconds deadline)
    : deadline_(deadline),
      identity_(pb::Identity::NewStub(channel)),
      controller_(pb::Controller::NewStub(channel)),
      node_(pb::Node::NewStub(channel)) {}

std::unique_ptr<grpc::ClientContext> CsiClient::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + deadline_);
  return context;
}

grpc::Status CsiClient::Probe(pb::ProbeResponse* response) {
  pb::ProbeResponse ignored;
  return identity_->Probe(Context().get(), pb::ProbeRequest(), response ? response : &ignored);
}

grpc::Status CsiClient::CreateVolume(const pb::CreateVolumeRequest& request,
                                     pb::CreateVolumeResponse* response) {
  pb::CreateVolumeResponse ignored;
  return controller_->CreateVolume(Context().get(), request, response ? response : &ignored);
}

grpc::Status CsiClient::DeleteVolume(const std::string& volume_id) {
  pb::DeleteVolumeRequest request;
  request.set_volume_id(volume_id);
  pb::DeleteVolumeResponse response;
  return controller_->DeleteVolume(Context().get(), request, &response);
}

grpc::Status CsiClient::CreateSnapshot(const std::string& name, const std::string& source,
                                       pb::CreateSnapshotResponse* response) {
  pb::CreateSnapshotRequest request;
  request.set_name(name);
  request.set_source_volume_id(source);
  pb::CreateSnapshotResponse ignored;
  return controller_->CreateSnapshot(Context().get(), request, response ? response : &ignored);
}

grpc::Status CsiClient::DeleteSnapshot(const std::string& snapshot_id) {
  pb::DeleteSnapshotRequest request;
  request.set_snapshot_id(snapshot_id);
  pb::DeleteSnapshotResponse response;
  return controller_->DeleteSnapshot(Context().get(), request, &response);
}

grpc::Status CsiClient::ControllerExpandVolume(const std::string& volume_id, int64_t bytes,
                                               pb::ControllerExpandVolumeResponse* response) {
  pb::ControllerExpandVolumeRequest request;
  request.set_volume_id(volume_id);
  request.mutable_capacity_range()->set_required_bytes(bytes);
  *request.mutable_volume_capability() = MountCapability();
  pb::ControllerExpandVolumeResponse ignored;
  return controller_->ControllerExpandVolume(Context().get(), request,
                                             response ? response : &ignored);
}

grpc::Status CsiClient::ListVolumes(pb::ListVolumesResponse* response) {
  return controller_->ListVolumes(Context().get(), pb::ListVolumesRequest(), response);
}

grpc::Status CsiClient::GetCapacity(pb::GetCapacityResponse* response) {
  return controller_->GetCapacity(Context().get(), pb::GetCapacityRequest(), response);
}

grpc::Status CsiClient::NodeStage(const std::string& volume_id, const std::string& staging,
                                  const std::string& fs_type) {
  pb::NodeStageVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_staging_target_path(staging);
  *request.mutable_volume_capability() = MountCapability(fs_type);
  pb::NodeStageVolumeResponse response;
  return node_->NodeStageVolume(Context().get(), request, &response);
}

grpc::Status CsiClient::NodeUnstage(const std::string& volume_id, const std::string& staging) {
  pb::NodeUnstageVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_staging_target_path(staging);
  pb::NodeUnstageVolumeResponse response;
  return node_->NodeUnstageVolume(Context().get(), request, &response);
}

grpc::Status CsiClient::NodePublish(const std::string& volume_id, const std::string& staging,
                                    const std::string& target, bool read_only) {
  pb::NodePublishVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_staging_target_path(staging);
  request.set_target_path(target);
  request.set_readonly(read_only);
  *request.mutable_volume_capability() = MountCapability();
  pb::NodePublishVolumeResponse response;
  return node_->NodePublishVolume(Context().get(), request, &response);
}

grpc::Status CsiClient::NodeUnpublish(const std::string& volume_id, const std::string& target) {
  pb::NodeUnpublishVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_target_path(target);
  pb::NodeUnpublishVolumeResponse response;
  return node_->NodeUnpublishVolume(Context().get(), request, &response);
}

grpc::Status CsiClient::NodeGetVolumeStats(const std::string& volume_id, const std::string& path,
                                           pb::NodeGetVolumeStatsResponse* response) {
  pb::NodeGetVolumeStatsRequest request;
  request.set_volume_id(volume_id);
  request.set_volume_path(path);
  return node_->NodeGetVolumeStats(Context().get(), request, response);
}

// ---- builders ----

pb::VolumeCapability MountCapability(const std::string& fs_type) {
  pb::VolumeCapability capability;
  capability.mutable_mount()->set_fs_type(fs_type);
  capability.mutable_access_mode()->set_mode(pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  return capability;
}

pb::VolumeCapability BlockCapability() {
  pb::VolumeCapability capability;
  capability.mutable_block();
  capability.mutable_access_mode()->set_mode(pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  return capability;
}

pb::CreateVolumeRequest VolumeRequest(const std::string& name, int64_t bytes,
                                      const std::string& fs_type) {
  pb::CreateVolumeRequest request;
  request.set_name(name);
  request.mutable_capacity_range()->set_required_bytes(bytes);
  *request.add_volume_capabilities() = MountCapability(fs_type);
  return request;
}

pb::CreateVolumeRequest CloneRequest(const std::string& name, const std::string& source,
                                     int64_t bytes) {
  pb::CreateVolumeRequest request;
  request.set_name(name);
  if (bytes > 0) request.mutable_capacity_range()->set_required_bytes(bytes);
  *request.add_volume_capabilities() = MountCapability();
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source);
  return request;
}

pb::CreateVolumeRequest RestoreRequest(const std::string& name, const std::string& snapshot,
                                       int64_t bytes) {
  pb::CreateVolumeRequest request;
  request.set_name(name);
  if (bytes > 0) request.mutable_capacity_range()->set_required_bytes(bytes);
  *request.add_volume_capabilities() = MountCapability();
  request.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snapshot);
  return request;
}

std::string Describe(const grpc::Status& status) {
  std::string name = ditto::StatusCodeName(status.error_code());
  return status.ok() ? name : name + ": " + status.error_message();
}

// ---- host helpers ----

ToolResult RunTool(const std::vector<std::string>& argv) {
  host::LinuxHost host;
  auto result = host.Run(argv);
  ToolResult out;
  if (!result.ok()) {
    out.output = std::string(result.status().message());
    return out;
  }
  out.exit_code = result->exit_code;
  out.output = result->stdout_text + result->stderr_text;
  return out;
}

std::vector<std::string> LoopsBacking(const std::string& image) {
  host::LinuxHost host;
  std::vector<std::string> out;
  auto real = host.RealPath(image);
  auto loops = host.ListLoops();
  if (!loops.ok()) {
    // An unreadable table must not read as "nothing attached".
    ADD_FAILURE() << "cannot list loop devices: " << loops.status();
    return {"<loop devices unreadable>"};
  }
  for (const auto& loop : *loops) {
    if (loop.backing_file == image || (real.ok() && loop.backing_file == *real)) {
      out.push_back(loop.device);
    }
  }
  return out;
}

std::vector<std::string> LoopsBackingSettled(const std::string& image,
                                             std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> loops = LoopsBacking(image);
  while (!loops.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    loops = LoopsBacking(image);
  }
  for (auto& device : loops) {
    std::string name = device.substr(device.find_last_of('/') + 1);
    std::string autoclear = "?";
    std::ifstream flag(fmt::format("/sys/block/{}/loop/autoclear", name));
    if (flag) std::getline(flag, autoclear);
    device += fmt::format(" (autoclear {})", autoclear);
  }
  return loops;
}

bool IsMountPoint(const std::string& path) {
  host::LinuxHost host;
  auto mounts = host.ListMounts();
  if (!mounts.ok()) {
    ADD_FAILURE() << "cannot read the mount table: " << mounts.status();
    return false;
  }
  return std::any_of(mounts->begin(), mounts->end(),
                     [&](const host::MountEntry& m) { return m.target == path; });
}

std::vector<std::string> MountTargets() {
  host::LinuxHost host;
  std::vector<std::string> out;
  auto mounts = host.ListMounts();
  if (!mounts.ok()) {
    // An unreadable table must not read as "nothing mounted".
    ADD_FAILURE() << "cannot read the mount table: " << mounts.status();
    return {"<mount table unreadable>"};
  }
  for (const auto& mount : *mounts) out.push_back(mount.target + " <- " + mount.source);
  std::sort(out.begin(), out.end());
  return out;
}

Status WriteFileSynced(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(fmt::format("open {}: {}", path, std::strerror(errno)));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      int err = errno;
      close(fd);
      return absl::InternalError(fmt::format("write {}: {}", path, std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  int synced = fsync(fd);
  int err = errno;
  close(fd);
  if (synced != 0)
    return absl::InternalError(fmt::format("fsync {}: {}", path, std::strerror(err)));
  std::string dir = std::filesystem::path(path).parent_path();
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot read {}", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ditto::reliability
