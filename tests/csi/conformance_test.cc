// CSI conformance, as root: a real dittod on a temporary socket over a
// temporary pool (a loop-mounted XFS backing file), driven through a gRPC
// client. Covers the error rows of the spec tables for the implemented RPCs,
// idempotent repeats, pagination, and the clone scenario at CSI level on ext4,
// xfs and block volumes, a clone to a larger size, expansion, and a restart.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "common/ids.h"
#include "csi.grpc.pb.h"
#include "fmt/format.h"
#include "host/linux_host.h"
#include "support/require_root.h"
#include "support/sha256.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

#ifndef DITTOD_PATH
#error "DITTOD_PATH must name the dittod binary"
#endif

extern char** environ;

namespace ditto::csi {
namespace {

namespace pb = ::csi::v1;
namespace fs = std::filesystem;
using Mode = pb::VolumeCapability::AccessMode;
using C = grpc::StatusCode;
constexpr int64_t kMiB = 1 << 20;
constexpr char kNode[] = "conformance-node";
constexpr char kTopologyKey[] = "topology.ditto.csi.dev/node";

pb::VolumeCapability Mount(std::string fs_type = "", Mode::Mode mode = Mode::SINGLE_NODE_WRITER) {
  pb::VolumeCapability capability;
  capability.mutable_mount()->set_fs_type(fs_type);
  capability.mutable_access_mode()->set_mode(mode);
  return capability;
}

pb::VolumeCapability Block(Mode::Mode mode = Mode::SINGLE_NODE_WRITER) {
  pb::VolumeCapability capability;
  capability.mutable_block();
  capability.mutable_access_mode()->set_mode(mode);
  return capability;
}

// Relative path -> content hash of every regular file below `root`.
std::map<std::string, std::string> Tree(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    auto hash = test::Sha256File(entry.path());
    EXPECT_TRUE(hash.ok()) << hash.status();
    out[fs::relative(entry.path(), root)] = hash.ok() ? *hash : "";
  }
  return out;
}

void WriteFile(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
}

// Writes at `offset` of a block device (through its published file) and
// flushes it to the image.
void WriteDevice(const std::string& path, uint64_t offset, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), offset), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
}

std::string ReadDevice(const std::string& path, uint64_t offset, size_t size) {
  std::string out(size, '\0');
  int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0) << path;
  if (fd < 0) return "";
  EXPECT_EQ(::pread(fd, out.data(), size, offset), static_cast<ssize_t>(size));
  ::close(fd);
  return out;
}

class ConformanceTest : public testing::Test {
 protected:
  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    dir_ = std::make_unique<test::TempDir>("ditto-csi-conformance");
    socket_ = dir_->Join("csi.sock");
    pool_ = dir_->Join("pool");
    ASSERT_NO_FATAL_FAILURE(StartDaemon());
  }

  void TearDown() override {
    StopDaemon(SIGKILL);
    if (!dir_) return;
    // Unmount what the daemon staged and published (everything below the
    // temp dir but the pool itself), detach the volumes' loop devices, then
    // let TempDir unmount the pool and remove the tree.
    std::string pool_data = pool_ + "/data";
    for (int round = 0; round < 3; ++round) {
      auto mounts = host_.ListMounts();
      if (!mounts.ok()) break;
      for (auto it = mounts->rbegin(); it != mounts->rend(); ++it) {
        if (it->target.rfind(dir_->path() + "/", 0) == 0 && it->target != pool_data) {
          (void)host_.UnmountLazily(it->target);
        }
      }
    }
    if (auto loops = host_.ListLoops(); loops.ok()) {
      for (const auto& loop : *loops) {
        if (loop.backing_file.rfind(pool_data + "/", 0) == 0) (void)host_.DetachLoop(loop.device);
      }
    }
    dir_.reset();
  }

  void StartDaemon() {
    std::string log = dir_->Join("dittod.log");
    std::vector<std::string> args = {DITTOD_PATH, "--endpoint=unix://" + socket_,
                                     std::string("--node-id=") + kNode, "--pool=" + pool_,
                                     "--pool-size=3Gi"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&pid_, DITTOD_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ASSERT_EQ(rc, 0) << "cannot start " << DITTOD_PATH;

    // Connect gRPC only once the daemon accepts connections (a stale socket
    // of a killed daemon refuses them): a refused first connection would put
    // the channel into reconnect backoff.
    auto accepting = [&] {
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      strncpy(address.sun_path, socket_.c_str(), sizeof(address.sun_path) - 1);
      bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
      ::close(fd);
      return ok;
    };
    for (int i = 0; i < 400 && !accepting(); ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "dittod exited during start-up; log:\n" << Log();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
    arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    channel_ = grpc::CreateCustomChannel("unix://" + socket_, grpc::InsecureChannelCredentials(),
                                         arguments);
    identity_ = pb::Identity::NewStub(channel_);
    controller_ = pb::Controller::NewStub(channel_);
    node_ = pb::Node::NewStub(channel_);
    // Wait (bounded) for the daemon to answer Probe.
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "dittod exited during start-up; log:\n" << Log();
      }
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      pb::ProbeResponse probe;
      if (identity_->Probe(&context, {}, &probe).ok() && probe.ready().value()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "dittod did not become ready; log:\n" << Log();
  }

  // Stops the daemon by PID: `signal`, then SIGKILL if it lingers.
  void StopDaemon(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string Log() {
    std::ifstream in(dir_->Join("dittod.log"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  template <typename Stub, typename Request, typename Response>
  grpc::StatusCode Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                     Response*),
                        Stub& stub, const Request& request, Response* response,
                        std::string* message = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::Status status = (stub.*method)(&context, request, response);
    if (message) *message = status.error_message();
    return status.error_code();
  }
  template <typename Request, typename Response>
  grpc::StatusCode Ctl(grpc::Status (pb::Controller::Stub::*method)(grpc::ClientContext*,
                                                                    const Request&, Response*),
                       const Request& request, Response* response = nullptr) {
    Response ignored;
    return Call(method, *controller_, request, response ? response : &ignored);
  }
  template <typename Request, typename Response>
  grpc::StatusCode Nd(grpc::Status (pb::Node::Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                      const Request& request, Response* response = nullptr) {
    Response ignored;
    std::string message;
    auto code = Call(method, *node_, request, response ? response : &ignored, &message);
    if (code != C::OK) std::cerr << "  (node rpc: " << message << ")\n";
    return code;
  }

  std::string Create(const std::string& name, int64_t bytes, pb::VolumeCapability capability,
                     const std::string& source_volume = "",
                     const std::string& source_snapshot = "") {
    pb::CreateVolumeRequest request;
    request.set_name(name);
    request.mutable_capacity_range()->set_required_bytes(bytes);
    *request.add_volume_capabilities() = capability;
    if (!source_volume.empty()) {
      request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source_volume);
    }
    if (!source_snapshot.empty()) {
      request.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(source_snapshot);
    }
    pb::CreateVolumeResponse response;
    std::string message;
    EXPECT_EQ(Call(&pb::Controller::Stub::CreateVolume, *controller_, request, &response, &message),
              C::OK)
        << message;
    return response.volume().volume_id();
  }

  pb::NodeStageVolumeRequest StageRequest(const std::string& id, pb::VolumeCapability capability) {
    pb::NodeStageVolumeRequest request;
    request.set_volume_id(id);
    request.set_staging_target_path(StagingPath(id));
    *request.mutable_volume_capability() = capability;
    return request;
  }
  pb::NodePublishVolumeRequest PublishRequest(const std::string& id, const std::string& target,
                                              pb::VolumeCapability capability,
                                              bool readonly = false) {
    pb::NodePublishVolumeRequest request;
    request.set_volume_id(id);
    request.set_staging_target_path(StagingPath(id));
    request.set_target_path(target);
    *request.mutable_volume_capability() = capability;
    request.set_readonly(readonly);
    return request;
  }
  std::string StagingPath(const std::string& id) { return dir_->Join("staging/" + id); }
  std::string TargetPath(const std::string& name) { return dir_->Join("pods/" + name); }

  // Stages and publishes; returns the target path.
  std::string StageAndPublish(const std::string& id, pb::VolumeCapability capability,
                              const std::string& target_name) {
    fs::create_directories(StagingPath(id));
    fs::create_directories(dir_->Join("pods"));
    EXPECT_EQ(Nd(&pb::Node::Stub::NodeStageVolume, StageRequest(id, capability)), C::OK);
    std::string target = TargetPath(target_name);
    EXPECT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(id, target, capability)),
              C::OK);
    return target;
  }
  void UnpublishAndUnstage(const std::string& id, const std::string& target) {
    pb::NodeUnpublishVolumeRequest unpublish;
    unpublish.set_volume_id(id);
    unpublish.set_target_path(target);
    EXPECT_EQ(Nd(&pb::Node::Stub::NodeUnpublishVolume, unpublish), C::OK);
    EXPECT_FALSE(fs::exists(target));
    pb::NodeUnstageVolumeRequest unstage;
    unstage.set_volume_id(id);
    unstage.set_staging_target_path(StagingPath(id));
    EXPECT_EQ(Nd(&pb::Node::Stub::NodeUnstageVolume, unstage), C::OK);
    EXPECT_EQ(Nd(&pb::Node::Stub::NodeUnstageVolume, unstage), C::OK);  // idempotent
  }
  void Delete(const std::string& id) {
    pb::DeleteVolumeRequest request;
    request.set_volume_id(id);
    EXPECT_EQ(Ctl(&pb::Controller::Stub::DeleteVolume, request), C::OK);
  }
  int64_t TotalBytes(const std::string& id, const std::string& path) {
    pb::NodeGetVolumeStatsRequest request;
    request.set_volume_id(id);
    request.set_volume_path(path);
    pb::NodeGetVolumeStatsResponse response;
    EXPECT_EQ(Nd(&pb::Node::Stub::NodeGetVolumeStats, request, &response), C::OK);
    EXPECT_FALSE(response.volume_condition().abnormal()) << response.volume_condition().message();
    for (const auto& usage : response.usage()) {
      if (usage.unit() == pb::VolumeUsage::BYTES) return usage.total();
    }
    return 0;
  }

  host::LinuxHost host_;
  std::unique_ptr<test::TempDir> dir_;
  std::string socket_;
  std::string pool_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Identity::Stub> identity_;
  std::unique_ptr<pb::Controller::Stub> controller_;
  std::unique_ptr<pb::Node::Stub> node_;
};

TEST_F(ConformanceTest, IdentityAndSocket) {
  struct stat info {};
  ASSERT_EQ(::stat(socket_.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  pb::GetPluginInfoResponse plugin;
  ASSERT_EQ(Call(&pb::Identity::Stub::GetPluginInfo, *identity_, {}, &plugin), C::OK);
  EXPECT_EQ(plugin.name(), "ditto.csi.dev");
  pb::GetPluginCapabilitiesResponse capabilities;
  ASSERT_EQ(Call(&pb::Identity::Stub::GetPluginCapabilities, *identity_, {}, &capabilities), C::OK);
  // Controller, topology, group controller, snapshot metadata; online and
  // offline expansion.
  EXPECT_EQ(capabilities.capabilities_size(), 6);
  pb::ControllerGetCapabilitiesResponse controller;
  ASSERT_EQ(Ctl(&pb::Controller::Stub::ControllerGetCapabilities,
                pb::ControllerGetCapabilitiesRequest(), &controller),
            C::OK);
  EXPECT_EQ(controller.capabilities_size(), 12);  // with MODIFY_VOLUME
  for (const auto& capability : controller.capabilities()) {
    EXPECT_NE(capability.rpc().type(),
              pb::ControllerServiceCapability::RPC::PUBLISH_UNPUBLISH_VOLUME);
  }
  pb::NodeGetCapabilitiesResponse node;
  ASSERT_EQ(Nd(&pb::Node::Stub::NodeGetCapabilities, pb::NodeGetCapabilitiesRequest(), &node),
            C::OK);
  EXPECT_EQ(node.capabilities_size(), 5);
  pb::NodeGetInfoResponse info_response;
  ASSERT_EQ(Nd(&pb::Node::Stub::NodeGetInfo, pb::NodeGetInfoRequest(), &info_response), C::OK);
  EXPECT_EQ(info_response.node_id(), kNode);
  EXPECT_EQ(info_response.accessible_topology().segments().at(kTopologyKey), kNode);
  EXPECT_EQ(
      Ctl(&pb::Controller::Stub::ControllerPublishVolume, pb::ControllerPublishVolumeRequest()),
      C::UNIMPLEMENTED);
}

TEST_F(ConformanceTest, ControllerErrorTablesAndIdempotency) {
  std::string source = Create("pvc-source", 64 * kMiB, Mount());
  // CreateVolume.
  pb::CreateVolumeRequest request;
  *request.add_volume_capabilities() = Mount();
  EXPECT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);  // no name
  request.set_name("pvc-x");
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(NewVolumeId());
  EXPECT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, request), C::NOT_FOUND);
  request.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(NewSnapshotId());
  EXPECT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, request), C::NOT_FOUND);
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source);
  request.mutable_capacity_range()->set_required_bytes(16 * kMiB);
  EXPECT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, request), C::OUT_OF_RANGE);
  request.clear_capacity_range();
  *request.mutable_volume_capabilities(0) = Block();
  EXPECT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  *request.mutable_volume_capabilities(0) = Mount();
  (*request.mutable_accessibility_requirements()
        ->add_requisite()
        ->mutable_segments())[kTopologyKey] = "another-node";
  EXPECT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, request), C::RESOURCE_EXHAUSTED);
  request.clear_accessibility_requirements();
  pb::CreateVolumeResponse clone, again;
  ASSERT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, request, &clone), C::OK);
  ASSERT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, request, &again), C::OK);
  EXPECT_EQ(again.volume().volume_id(), clone.volume().volume_id());
  EXPECT_EQ(again.volume().content_source().volume().volume_id(), source);
  EXPECT_EQ(again.volume().accessible_topology(0).segments().at(kTopologyKey), kNode);
  request.mutable_capacity_range()->set_required_bytes(128 * kMiB);
  EXPECT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, request), C::ALREADY_EXISTS);

  // DeleteVolume: missing ID, repeat.
  EXPECT_EQ(Ctl(&pb::Controller::Stub::DeleteVolume, pb::DeleteVolumeRequest()),
            C::INVALID_ARGUMENT);
  Delete(clone.volume().volume_id());
  Delete(clone.volume().volume_id());

  // ValidateVolumeCapabilities, ControllerGetVolume: NOT_FOUND.
  pb::ValidateVolumeCapabilitiesRequest validate;
  validate.set_volume_id(NewVolumeId());
  *validate.add_volume_capabilities() = Mount();
  EXPECT_EQ(Ctl(&pb::Controller::Stub::ValidateVolumeCapabilities, validate), C::NOT_FOUND);
  validate.set_volume_id(source);
  pb::ValidateVolumeCapabilitiesResponse validated;
  ASSERT_EQ(Ctl(&pb::Controller::Stub::ValidateVolumeCapabilities, validate, &validated), C::OK);
  EXPECT_TRUE(validated.has_confirmed());
  pb::ControllerGetVolumeRequest get;
  get.set_volume_id(NewVolumeId());
  EXPECT_EQ(Ctl(&pb::Controller::Stub::ControllerGetVolume, get), C::NOT_FOUND);
  get.set_volume_id(source);
  pb::ControllerGetVolumeResponse got;
  ASSERT_EQ(Ctl(&pb::Controller::Stub::ControllerGetVolume, get, &got), C::OK);
  EXPECT_FALSE(got.status().volume_condition().abnormal());

  // ListVolumes / ListSnapshots: bad tokens.
  pb::ListVolumesRequest list;
  list.set_starting_token("not-a-token");
  EXPECT_EQ(Ctl(&pb::Controller::Stub::ListVolumes, list), C::ABORTED);
  pb::ListSnapshotsRequest list_snapshots;
  list_snapshots.set_starting_token("not-a-token");
  EXPECT_EQ(Ctl(&pb::Controller::Stub::ListSnapshots, list_snapshots), C::ABORTED);

  // Snapshots: idempotent, ALREADY_EXISTS for another source, NOT_FOUND.
  pb::CreateSnapshotRequest snapshot;
  snapshot.set_name("snap-a");
  snapshot.set_source_volume_id(source);
  pb::CreateSnapshotResponse cut, recut;
  ASSERT_EQ(Ctl(&pb::Controller::Stub::CreateSnapshot, snapshot, &cut), C::OK);
  ASSERT_EQ(Ctl(&pb::Controller::Stub::CreateSnapshot, snapshot, &recut), C::OK);
  EXPECT_EQ(recut.snapshot().snapshot_id(), cut.snapshot().snapshot_id());
  EXPECT_TRUE(cut.snapshot().ready_to_use());
  std::string other = Create("pvc-other", 64 * kMiB, Mount());
  snapshot.set_source_volume_id(other);
  EXPECT_EQ(Ctl(&pb::Controller::Stub::CreateSnapshot, snapshot), C::ALREADY_EXISTS);
  pb::GetSnapshotRequest get_snapshot;
  get_snapshot.set_snapshot_id(NewSnapshotId());
  EXPECT_EQ(Ctl(&pb::Controller::Stub::GetSnapshot, get_snapshot), C::NOT_FOUND);
  pb::DeleteSnapshotRequest delete_snapshot;
  delete_snapshot.set_snapshot_id(cut.snapshot().snapshot_id());
  EXPECT_EQ(Ctl(&pb::Controller::Stub::DeleteSnapshot, delete_snapshot), C::OK);
  EXPECT_EQ(Ctl(&pb::Controller::Stub::DeleteSnapshot, delete_snapshot), C::OK);

  // ControllerExpandVolume: NOT_FOUND, INVALID_ARGUMENT, OUT_OF_RANGE.
  pb::ControllerExpandVolumeRequest expand;
  expand.set_volume_id(NewVolumeId());
  expand.mutable_capacity_range()->set_required_bytes(128 * kMiB);
  EXPECT_EQ(Ctl(&pb::Controller::Stub::ControllerExpandVolume, expand), C::NOT_FOUND);
  expand.set_volume_id(source);
  *expand.mutable_volume_capability() = Block();
  EXPECT_EQ(Ctl(&pb::Controller::Stub::ControllerExpandVolume, expand), C::INVALID_ARGUMENT);
  expand.clear_volume_capability();
  expand.mutable_capacity_range()->set_limit_bytes(32 * kMiB);
  expand.mutable_capacity_range()->set_required_bytes(16 * kMiB);
  EXPECT_EQ(Ctl(&pb::Controller::Stub::ControllerExpandVolume, expand), C::OUT_OF_RANGE);

  // DeleteVolume of a staged volume: FAILED_PRECONDITION.
  fs::create_directories(StagingPath(source));
  ASSERT_EQ(Nd(&pb::Node::Stub::NodeStageVolume, StageRequest(source, Mount())), C::OK);
  pb::DeleteVolumeRequest del;
  del.set_volume_id(source);
  EXPECT_EQ(Ctl(&pb::Controller::Stub::DeleteVolume, del), C::FAILED_PRECONDITION);
  pb::NodeUnstageVolumeRequest unstage;
  unstage.set_volume_id(source);
  unstage.set_staging_target_path(StagingPath(source));
  ASSERT_EQ(Nd(&pb::Node::Stub::NodeUnstageVolume, unstage), C::OK);
  Delete(source);
  Delete(other);
}

TEST_F(ConformanceTest, Pagination) {
  std::set<std::string> created;
  for (int i = 0; i < 5; ++i)
    created.insert(Create(fmt::format("pvc-page-{}", i), 16 * kMiB, Mount()));
  std::set<std::string> seen;
  pb::ListVolumesRequest request;
  request.set_max_entries(2);
  for (int page = 0; page < 10; ++page) {
    pb::ListVolumesResponse response;
    ASSERT_EQ(Ctl(&pb::Controller::Stub::ListVolumes, request, &response), C::OK);
    EXPECT_LE(response.entries_size(), 2);
    for (const auto& entry : response.entries()) seen.insert(entry.volume().volume_id());
    if (response.next_token().empty()) break;
    request.set_starting_token(response.next_token());
  }
  EXPECT_EQ(seen, created);
  for (const auto& id : created) {
    pb::CreateSnapshotRequest snapshot;
    snapshot.set_name("snap-of-" + id);
    snapshot.set_source_volume_id(id);
    ASSERT_EQ(Ctl(&pb::Controller::Stub::CreateSnapshot, snapshot), C::OK);
  }
  std::set<std::string> snapshots;
  pb::ListSnapshotsRequest list;
  list.set_max_entries(3);
  for (int page = 0; page < 10; ++page) {
    pb::ListSnapshotsResponse response;
    ASSERT_EQ(Ctl(&pb::Controller::Stub::ListSnapshots, list, &response), C::OK);
    EXPECT_LE(response.entries_size(), 3);
    for (const auto& entry : response.entries())
      snapshots.insert(entry.snapshot().source_volume_id());
    if (response.next_token().empty()) break;
    list.set_starting_token(response.next_token());
  }
  EXPECT_EQ(snapshots, created);
}

TEST_F(ConformanceTest, NodeErrorTables) {
  std::string id = Create("pvc-node-errors", 64 * kMiB, Mount());
  fs::create_directories(StagingPath(id));
  // NodeStageVolume: NOT_FOUND, FAILED_PRECONDITION, ALREADY_EXISTS.
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeStageVolume, StageRequest(NewVolumeId(), Mount())),
            C::NOT_FOUND);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeStageVolume,
               StageRequest(id, Mount("", Mode::MULTI_NODE_MULTI_WRITER))),
            C::FAILED_PRECONDITION);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeStageVolume, StageRequest(id, Block())),
            C::FAILED_PRECONDITION);
  ASSERT_EQ(Nd(&pb::Node::Stub::NodeStageVolume, StageRequest(id, Mount())), C::OK);
  ASSERT_EQ(Nd(&pb::Node::Stub::NodeStageVolume, StageRequest(id, Mount())), C::OK);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeStageVolume,
               StageRequest(id, Mount("", Mode::SINGLE_NODE_READER_ONLY))),
            C::ALREADY_EXISTS);

  // NodePublishVolume: NOT_FOUND, FAILED_PRECONDITION (no staging path;
  // capability), ALREADY_EXISTS (readonly differs).
  fs::create_directories(dir_->Join("pods"));
  std::string target = TargetPath("errors");
  EXPECT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(NewVolumeId(), target, Mount())),
            C::NOT_FOUND);
  auto publish = PublishRequest(id, target, Mount());
  publish.clear_staging_target_path();
  EXPECT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, publish), C::FAILED_PRECONDITION);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(id, target, Block())),
            C::FAILED_PRECONDITION);
  ASSERT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(id, target, Mount())), C::OK);
  ASSERT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(id, target, Mount())), C::OK);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(id, target, Mount(), true)),
            C::ALREADY_EXISTS);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(id, target + "-2", Mount())),
            C::FAILED_PRECONDITION);

  // NodeGetVolumeStats / NodeExpandVolume / NodeUnpublish / NodeUnstage.
  pb::NodeGetVolumeStatsRequest stats;
  stats.set_volume_id(NewVolumeId());
  stats.set_volume_path(target);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeGetVolumeStats, stats), C::NOT_FOUND);
  stats.set_volume_id(id);
  stats.set_volume_path(dir_->Join("pods/missing"));
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeGetVolumeStats, stats), C::NOT_FOUND);
  // csi-sanity: a relative volume_path names no place a volume is: NOT_FOUND,
  // for a missing volume and for a published one alike.
  stats.set_volume_path("some/path");
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeGetVolumeStats, stats), C::NOT_FOUND);
  stats.set_volume_id(NewVolumeId());
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeGetVolumeStats, stats), C::NOT_FOUND);
  stats.set_volume_id(id);
  stats.set_volume_path("");
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeGetVolumeStats, stats), C::INVALID_ARGUMENT);
  stats.set_volume_path(target + "/../x");
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeGetVolumeStats, stats), C::INVALID_ARGUMENT);
  stats.set_volume_path("some\npath");
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeGetVolumeStats, stats), C::INVALID_ARGUMENT);
  pb::NodeExpandVolumeRequest expand;
  expand.set_volume_id(NewVolumeId());
  expand.set_volume_path(target);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeExpandVolume, expand), C::NOT_FOUND);
  expand.set_volume_path("some/path");
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeExpandVolume, expand), C::NOT_FOUND);
  expand.set_volume_id(id);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeExpandVolume, expand), C::NOT_FOUND);
  expand.set_volume_path(target);
  *expand.mutable_volume_capability() = Block();
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeExpandVolume, expand), C::INVALID_ARGUMENT);
  expand.clear_volume_capability();
  expand.mutable_capacity_range()->set_required_bytes(1024 * kMiB);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeExpandVolume, expand), C::OUT_OF_RANGE);
  // A limit below the volume's size: it would have to shrink.
  expand.mutable_capacity_range()->set_required_bytes(0);
  expand.mutable_capacity_range()->set_limit_bytes(kMiB);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeExpandVolume, expand), C::OUT_OF_RANGE);
  expand.clear_capacity_range();
  pb::NodeUnpublishVolumeRequest unpublish;
  unpublish.set_volume_id(NewVolumeId());
  unpublish.set_target_path(target);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeUnpublishVolume, unpublish), C::NOT_FOUND);
  pb::NodeUnstageVolumeRequest unstage;
  unstage.set_volume_id(NewVolumeId());
  unstage.set_staging_target_path(StagingPath(id));
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeUnstageVolume, unstage), C::NOT_FOUND);
  unstage.set_volume_id(id);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeUnstageVolume, unstage), C::FAILED_PRECONDITION);  // published
  UnpublishAndUnstage(id, target);
  Delete(id);
}

// The seed scenario at CSI level, per filesystem.
class CloneScenario : public ConformanceTest, public testing::WithParamInterface<std::string> {};

TEST_P(CloneScenario, CloneIsIdenticalThenIndependentAndOutlivesItsSource) {
  const std::string fs_type = GetParam();
  const auto capability = Mount(fs_type);
  std::string source = Create("pvc-1", 512 * kMiB, capability);
  std::string source_target = StageAndPublish(source, capability, "pod-1");
  WriteFile(source_target + "/a.txt", "hello from pvc-1\n");
  WriteFile(source_target + "/dir/b.bin", test::PatternData(3 * kMiB + 17, 1));
  WriteFile(source_target + "/dir/sub/c.bin", test::PatternData(20 * kMiB, 2));
  auto original = Tree(source_target);
  ASSERT_EQ(original.size(), 3u);

  // Clone while the source is mounted (the pool freezes it around the copy).
  std::string clone = Create("pvc-2", 512 * kMiB, Mount(), source);
  std::string clone_target = StageAndPublish(clone, capability, "pod-2");
  EXPECT_EQ(Tree(clone_target), original);

  WriteFile(source_target + "/a.txt", "changed after the clone\n");
  WriteFile(source_target + "/new.bin", test::PatternData(kMiB, 3));
  EXPECT_NE(Tree(source_target), original);
  EXPECT_EQ(Tree(clone_target), original);
  WriteFile(clone_target + "/only-in-clone", "x");
  EXPECT_EQ(Tree(source_target).count("only-in-clone"), 0u);
  fs::remove(clone_target + "/only-in-clone");
  ::sync();

  UnpublishAndUnstage(source, source_target);
  Delete(source);
  EXPECT_EQ(Tree(clone_target), original);
  UnpublishAndUnstage(clone, clone_target);
  // Staged again, the clone still holds the data.
  std::string again = StageAndPublish(clone, capability, "pod-3");
  EXPECT_EQ(Tree(again), original);
  UnpublishAndUnstage(clone, again);
  Delete(clone);
}

TEST_P(CloneScenario, LargerCloneHasALargerFilesystem) {
  const std::string fs_type = GetParam();
  const auto capability = Mount(fs_type);
  std::string source = Create("pvc-small", 512 * kMiB, capability);
  std::string source_target = StageAndPublish(source, capability, "small");
  WriteFile(source_target + "/data.bin", test::PatternData(5 * kMiB, 7));
  auto original = Tree(source_target);
  int64_t small_total = TotalBytes(source, source_target);

  std::string clone = Create("pvc-large", 1024 * kMiB, capability, source);
  std::string clone_target = StageAndPublish(clone, capability, "large");
  int64_t large_total = TotalBytes(clone, clone_target);
  EXPECT_GT(large_total, small_total + 400 * kMiB) << small_total << " -> " << large_total;
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(clone_target.c_str(), &vfs), 0);
  EXPECT_GT(static_cast<int64_t>(vfs.f_blocks * vfs.f_frsize), 900 * kMiB);
  EXPECT_EQ(Tree(clone_target), original);

  // Expansion of the staged clone (not published: ext4 grows offline, which
  // needs no CAP_SYS_RESOURCE), then published again.
  pb::NodeUnpublishVolumeRequest unpublish;
  unpublish.set_volume_id(clone);
  unpublish.set_target_path(clone_target);
  ASSERT_EQ(Nd(&pb::Node::Stub::NodeUnpublishVolume, unpublish), C::OK);
  pb::ControllerExpandVolumeRequest expand;
  expand.set_volume_id(clone);
  expand.mutable_capacity_range()->set_required_bytes(1536 * kMiB);
  pb::ControllerExpandVolumeResponse expanded;
  ASSERT_EQ(Ctl(&pb::Controller::Stub::ControllerExpandVolume, expand, &expanded), C::OK);
  EXPECT_TRUE(expanded.node_expansion_required());
  pb::NodeExpandVolumeRequest node_expand;
  node_expand.set_volume_id(clone);
  node_expand.set_volume_path(StagingPath(clone));
  node_expand.set_staging_target_path(StagingPath(clone));
  node_expand.mutable_capacity_range()->set_required_bytes(1536 * kMiB);
  pb::NodeExpandVolumeResponse node_expanded;
  ASSERT_EQ(Nd(&pb::Node::Stub::NodeExpandVolume, node_expand, &node_expanded), C::OK);
  EXPECT_EQ(node_expanded.capacity_bytes(), 1536 * kMiB);
  ASSERT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(clone, clone_target, capability)),
            C::OK);
  EXPECT_GT(TotalBytes(clone, clone_target), large_total + 400 * kMiB);
  EXPECT_EQ(Tree(clone_target), original);

  UnpublishAndUnstage(source, source_target);
  UnpublishAndUnstage(clone, clone_target);
  Delete(source);
  Delete(clone);
}

INSTANTIATE_TEST_SUITE_P(Filesystems, CloneScenario, testing::Values("ext4", "xfs"));

TEST_F(ConformanceTest, BlockVolumeCloneAndSnapshotRestore) {
  std::string source = Create("pvc-block", 64 * kMiB, Block());
  std::string source_target = StageAndPublish(source, Block(), "block-1");
  ASSERT_TRUE(fs::exists(source_target));
  std::string head = test::PatternData(2 * kMiB, 11);
  std::string tail = test::PatternData(kMiB, 12);
  WriteDevice(source_target, 0, head);
  WriteDevice(source_target, 60 * kMiB, tail);
  EXPECT_EQ(TotalBytes(source, source_target), 64 * kMiB);

  std::string clone = Create("pvc-block-clone", 64 * kMiB, Block(), source);
  pb::CreateSnapshotRequest snapshot;
  snapshot.set_name("snap-block");
  snapshot.set_source_volume_id(source);
  pb::CreateSnapshotResponse cut;
  ASSERT_EQ(Ctl(&pb::Controller::Stub::CreateSnapshot, snapshot, &cut), C::OK);
  WriteDevice(source_target, 0, test::PatternData(2 * kMiB, 13));  // after clone and snapshot

  std::string clone_target = StageAndPublish(clone, Block(), "block-2");
  EXPECT_EQ(ReadDevice(clone_target, 0, head.size()), head);
  EXPECT_EQ(ReadDevice(clone_target, 60 * kMiB, tail.size()), tail);
  std::string restored =
      Create("pvc-block-restored", 64 * kMiB, Block(), "", cut.snapshot().snapshot_id());
  std::string restored_target = StageAndPublish(restored, Block(), "block-3");
  EXPECT_EQ(ReadDevice(restored_target, 0, head.size()), head);
  EXPECT_NE(ReadDevice(source_target, 0, head.size()), head);

  // A mount clone of a block volume is refused.
  pb::CreateVolumeRequest mismatch;
  mismatch.set_name("pvc-block-as-fs");
  *mismatch.add_volume_capabilities() = Mount();
  mismatch.mutable_volume_content_source()->mutable_volume()->set_volume_id(source);
  EXPECT_EQ(Ctl(&pb::Controller::Stub::CreateVolume, mismatch), C::INVALID_ARGUMENT);

  UnpublishAndUnstage(source, source_target);
  UnpublishAndUnstage(clone, clone_target);
  UnpublishAndUnstage(restored, restored_target);
  for (const auto& id : {source, clone, restored}) Delete(id);
}

TEST_F(ConformanceTest, MountFlagsAndReadOnlyPublish) {
  auto capability = Mount("ext4");
  capability.mutable_mount()->add_mount_flags("noatime");
  capability.mutable_mount()->add_mount_flags("nodev");
  capability.mutable_mount()->add_mount_flags("commit=30");
  std::string id = Create("pvc-flags", 64 * kMiB, capability);
  std::string target = StageAndPublish(id, capability, "rw");
  auto mounts = host_.ListMounts();
  ASSERT_TRUE(mounts.ok());
  bool found = false;
  for (const auto& mount : *mounts) {
    if (mount.target != StagingPath(id)) continue;
    found = true;
    EXPECT_NE(mount.options.find("noatime"), std::string::npos) << mount.options;
    EXPECT_NE(mount.options.find("nodev"), std::string::npos) << mount.options;
  }
  EXPECT_TRUE(found);
  std::string readonly_target = TargetPath("ro");
  // SINGLE_NODE_WRITER allows one target; SINGLE_NODE_MULTI_WRITER several.
  auto multi = capability;
  multi.mutable_access_mode()->set_mode(Mode::SINGLE_NODE_MULTI_WRITER);
  ASSERT_EQ(
      Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(id, readonly_target, multi, true)),
      C::OK);
  int fd = ::open((readonly_target + "/file").c_str(), O_WRONLY | O_CREAT, 0644);
  EXPECT_LT(fd, 0);
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) ::close(fd);
  WriteFile(target + "/file", "writable");
  pb::NodeUnpublishVolumeRequest unpublish;
  unpublish.set_volume_id(id);
  unpublish.set_target_path(readonly_target);
  ASSERT_EQ(Nd(&pb::Node::Stub::NodeUnpublishVolume, unpublish), C::OK);
  UnpublishAndUnstage(id, target);
  Delete(id);
}

TEST_F(ConformanceTest, StagedVolumesSurviveARestart) {
  std::string id = Create("pvc-restart", 512 * kMiB, Mount("ext4"));
  std::string target = StageAndPublish(id, Mount("ext4"), "restart");
  WriteFile(target + "/kept", "still here");
  auto before = Tree(target);
  // Close the client first: gRPC holds a shutdown for a few seconds while a
  // client connection stays open.
  identity_.reset();
  controller_.reset();
  node_.reset();
  channel_.reset();
  StopDaemon(SIGTERM);
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  EXPECT_EQ(Tree(target), before);
  EXPECT_GT(TotalBytes(id, target), 0);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodeStageVolume, StageRequest(id, Mount("ext4"))), C::OK);
  EXPECT_EQ(Nd(&pb::Node::Stub::NodePublishVolume, PublishRequest(id, target, Mount("ext4"))),
            C::OK);
  // Killed outright: the next dittod removes the stale socket and carries on.
  identity_.reset();
  controller_.reset();
  node_.reset();
  channel_.reset();
  StopDaemon(SIGKILL);
  ASSERT_TRUE(fs::exists(socket_));
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  EXPECT_EQ(Tree(target), before);
  UnpublishAndUnstage(id, target);
  auto loops = host_.ListLoops();
  ASSERT_TRUE(loops.ok());
  for (const auto& loop : *loops) {
    EXPECT_EQ(loop.backing_file.find(id), std::string::npos) << loop.device << " still attached";
  }
  Delete(id);
  EXPECT_NE(Log().find("rpc Node.NodeStageVolume"), std::string::npos);
}

}  // namespace
}  // namespace ditto::csi
