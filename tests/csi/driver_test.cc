// The CSI services end to end through gRPC (an in-process channel), over a
// pool on FakeHost: no root, no real mounts. External tools are simulated by
// a Run handler that remembers which image holds which filesystem.
#include "csi/driver.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/ids.h"
#include "csi/in_process_channel.h"
#include "csi.grpc.pb.h"
#include "fmt/format.h"
#include "host/fake_host.h"

namespace ditto::csi {
namespace {

namespace pb = ::csi::v1;
using Mode = pb::VolumeCapability::AccessMode;
constexpr int64_t kMiB = 1 << 20;
constexpr char kNode[] = "node-a";

class RecordingObserver : public RpcObserver {
 public:
  void OnRpc(const RpcEvent& event) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lines.push_back(
        fmt::format("{} {} {}", event.method, event.subject, static_cast<int>(event.code)));
  }
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines;
};

pb::VolumeCapability Mount(std::string fs = "", Mode::Mode mode = Mode::SINGLE_NODE_WRITER,
                           std::vector<std::string> flags = {}) {
  pb::VolumeCapability capability;
  capability.mutable_mount()->set_fs_type(fs);
  for (auto& flag : flags) capability.mutable_mount()->add_mount_flags(flag);
  capability.mutable_access_mode()->set_mode(mode);
  return capability;
}

pb::VolumeCapability Block(Mode::Mode mode = Mode::SINGLE_NODE_WRITER) {
  pb::VolumeCapability capability;
  capability.mutable_block();
  capability.mutable_access_mode()->set_mode(mode);
  return capability;
}

class DriverTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ditto-csi-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    host_.set_run_handler([this](const std::vector<std::string>& argv) { return Tool(argv); });
    ASSERT_TRUE(host_.MakeDirectories("/staging", 0755).ok());
    ASSERT_TRUE(host_.MakeDirectories("/pods", 0755).ok());

    DriverOptions options;
    options.node_id = kNode;
    options.pool_dir = dir_;
    options.init_pool_if_missing = true;
    options.pool_init.backing = pool::Backing::kNever;
    options.pool_init.backend = pool::BackendChoice::kXfs;
    options.pool_init.size_bytes = 1ull << 40;
    options.log_rpcs = false;
    options.observer = observer_;
    auto driver = Driver::Open(host_, options);
    ASSERT_TRUE(driver.ok()) << driver.status();
    driver_ = std::move(*driver);
    grpc::ServerBuilder builder;
    driver_->RegisterServices(builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = csi::InProcessChannel(*server_);
    identity_ = pb::Identity::NewStub(channel);
    controller_ = pb::Controller::NewStub(channel);
    node_ = pb::Node::NewStub(channel);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    driver_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Simulated blkid / mkfs / resize2fs / xfs_growfs, keyed by image path.
  StatusOr<host::CommandResult> Tool(const std::vector<std::string>& argv) {
    std::string image;
    if (auto loop = host_.loop_info(argv.back())) image = loop->backing_file;
    std::unique_lock<std::mutex> lock(tool_mutex_);
    if (argv[0] == "blkid") {
      auto it = filesystems_.find(image);
      if (it == filesystems_.end()) return host::CommandResult{2, "", ""};
      return host::CommandResult{0, fmt::format("DEVNAME={}\nTYPE={}\n", argv.back(), it->second),
                                 ""};
    }
    if (argv[0] == "dumpe2fs") {
      // The filesystem fills the device.
      uint64_t size = host_.loop_info(argv.back())->size;
      return host::CommandResult{
          0,
          fmt::format("Block count:              {}\nBlock size:               4096\n",
                      size / 4096),
          ""};
    }
    if (argv[0] == "mkfs.ext4" || argv[0] == "mkfs.xfs") {
      if (block_mkfs_) {
        mkfs_started_.set_value();
        lock.unlock();
        release_mkfs_.get_future().wait();
        lock.lock();
      }
      filesystems_[image] = argv[0].substr(5);
    }
    return host::CommandResult{0, "", ""};
  }
  std::vector<std::string> ToolsRun() {
    std::vector<std::string> names;
    for (const auto& argv : host_.commands()) names.push_back(argv[0]);
    return names;
  }

  pb::CreateVolumeResponse CreateOk(const std::string& name, int64_t bytes = 64 * kMiB,
                                    pb::VolumeCapability capability = Mount()) {
    pb::CreateVolumeRequest request;
    request.set_name(name);
    request.mutable_capacity_range()->set_required_bytes(bytes);
    *request.add_volume_capabilities() = capability;
    pb::CreateVolumeResponse response;
    grpc::Status status =
        Call(&pb::Controller::Stub::CreateVolume, controller_, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    std::unique_ptr<Stub>& stub, const Request& request, Response* response) {
    grpc::ClientContext context;
    return ((*stub).*method)(&context, request, response);
  }
  template <typename Request, typename Response>
  grpc::StatusCode Code(grpc::Status (pb::Controller::Stub::*method)(grpc::ClientContext*,
                                                                     const Request&, Response*),
                        const Request& request, Response* response = nullptr) {
    Response ignored;
    return Call(method, controller_, request, response ? response : &ignored).error_code();
  }
  template <typename Request, typename Response>
  grpc::StatusCode NodeCode(grpc::Status (pb::Node::Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                            const Request& request, Response* response = nullptr) {
    Response ignored;
    return Call(method, node_, request, response ? response : &ignored).error_code();
  }

  pb::NodeStageVolumeRequest Stage(const std::string& id, pb::VolumeCapability capability = Mount(),
                                   const std::string& path = "/staging/a") {
    pb::NodeStageVolumeRequest request;
    request.set_volume_id(id);
    request.set_staging_target_path(path);
    *request.mutable_volume_capability() = capability;
    return request;
  }
  pb::NodePublishVolumeRequest Publish(const std::string& id, const std::string& target,
                                       pb::VolumeCapability capability = Mount(),
                                       bool readonly = false) {
    pb::NodePublishVolumeRequest request;
    request.set_volume_id(id);
    request.set_staging_target_path("/staging/a");
    request.set_target_path(target);
    *request.mutable_volume_capability() = capability;
    request.set_readonly(readonly);
    return request;
  }
  bool Mounted(const std::string& path) {
    // Keep the StatusOr alive: ranging over *ListMounts() would iterate a
    // destroyed temporary.
    auto mounts = host_.ListMounts();
    if (!mounts.ok()) return false;
    for (const auto& mount : *mounts) {
      if (mount.target == path) return true;
    }
    return false;
  }

  host::FakeHost host_;
  std::string dir_;
  std::shared_ptr<RecordingObserver> observer_ = std::make_shared<RecordingObserver>();
  std::unique_ptr<Driver> driver_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<pb::Identity::Stub> identity_;
  std::unique_ptr<pb::Controller::Stub> controller_;
  std::unique_ptr<pb::Node::Stub> node_;

  std::mutex tool_mutex_;
  std::map<std::string, std::string> filesystems_;  // image -> fs type
  bool block_mkfs_ = false;
  std::promise<void> mkfs_started_;
  std::promise<void> release_mkfs_;
};

using C = grpc::StatusCode;

TEST_F(DriverTest, Identity) {
  grpc::ClientContext c1, c2, c3;
  pb::GetPluginInfoResponse info;
  ASSERT_TRUE(identity_->GetPluginInfo(&c1, {}, &info).ok());
  EXPECT_EQ(info.name(), "ditto.csi.dev");
  EXPECT_FALSE(info.vendor_version().empty());
  pb::GetPluginCapabilitiesResponse capabilities;
  ASSERT_TRUE(identity_->GetPluginCapabilities(&c2, {}, &capabilities).ok());
  std::set<int> services, expansion;
  for (const auto& capability : capabilities.capabilities()) {
    if (capability.has_service()) services.insert(capability.service().type());
    if (capability.has_volume_expansion()) expansion.insert(capability.volume_expansion().type());
  }
  EXPECT_EQ(services,
            (std::set<int>{pb::PluginCapability::Service::CONTROLLER_SERVICE,
                           pb::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS,
                           pb::PluginCapability::Service::GROUP_CONTROLLER_SERVICE,
                           pb::PluginCapability::Service::SNAPSHOT_METADATA_SERVICE}));
  EXPECT_EQ(expansion.size(), 2u);
  pb::ProbeResponse probe;
  ASSERT_TRUE(identity_->Probe(&c3, {}, &probe).ok());
  EXPECT_TRUE(probe.ready().value());
}

TEST_F(DriverTest, CreateVolumeReportsTopologyAndDefaultSize) {
  pb::CreateVolumeRequest request;
  request.set_name("pvc-default");
  *request.add_volume_capabilities() = Mount();
  pb::CreateVolumeResponse response;
  ASSERT_EQ(Code(&pb::Controller::Stub::CreateVolume, request, &response), C::OK);
  EXPECT_EQ(response.volume().capacity_bytes(), 1 << 30);
  EXPECT_TRUE(IsValidVolumeId(response.volume().volume_id()));
  ASSERT_EQ(response.volume().accessible_topology_size(), 1);
  EXPECT_EQ(response.volume().accessible_topology(0).segments().at(kTopologyKey), kNode);
  EXPECT_FALSE(response.volume().has_content_source());
}

TEST_F(DriverTest, CreateVolumeErrors) {
  auto source = CreateOk("pvc-source", 64 * kMiB).volume();
  auto base = [] {
    pb::CreateVolumeRequest request;
    request.set_name("pvc-new");
    *request.add_volume_capabilities() = Mount();
    return request;
  };
  auto request = base();
  request.clear_name();
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  request = base();
  request.clear_volume_capabilities();
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  request = base();
  *request.mutable_volume_capabilities(0) = Mount("", Mode::MULTI_NODE_MULTI_WRITER);
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  request = base();
  (*request.mutable_parameters())["replicas"] = "3";
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  request = base();
  request.mutable_capacity_range()->set_required_bytes(2 * kMiB);
  request.mutable_capacity_range()->set_limit_bytes(kMiB);
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  request = base();
  (*request.mutable_accessibility_requirements()
        ->add_requisite()
        ->mutable_segments())[kTopologyKey] = "node-b";
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::RESOURCE_EXHAUSTED);
  request = base();
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(NewVolumeId());
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::NOT_FOUND);
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id("not-an-id");
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::NOT_FOUND);
  request = base();
  request.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(NewSnapshotId());
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::NOT_FOUND);
  request = base();
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source.volume_id());
  request.mutable_capacity_range()->set_required_bytes(32 * kMiB);
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::OUT_OF_RANGE);
  request = base();
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source.volume_id());
  *request.mutable_volume_capabilities(0) = Block();
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  request = base();
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source.volume_id());
  *request.mutable_volume_capabilities(0) = Mount("xfs");  // the source is ext4
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  request = base();
  (*request.mutable_mutable_parameters())["iops"] = "100";  // not a mutable key
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  request = base();
  (*request.mutable_mutable_parameters())["thick"] = "true";  // a key of parameters
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
  request = base();
  (*request.mutable_mutable_parameters())["provisioning"] = "fat";
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::INVALID_ARGUMENT);
}

TEST_F(DriverTest, CreateVolumeIsIdempotentByName) {
  auto first = CreateOk("pvc-1", 64 * kMiB).volume();
  auto again = CreateOk("pvc-1", 64 * kMiB).volume();
  EXPECT_EQ(again.volume_id(), first.volume_id());

  pb::CreateVolumeRequest request;
  request.set_name("pvc-1");
  request.mutable_capacity_range()->set_required_bytes(128 * kMiB);
  *request.add_volume_capabilities() = Mount();
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::ALREADY_EXISTS);
  request.mutable_capacity_range()->set_required_bytes(64 * kMiB);
  *request.mutable_volume_capabilities(0) = Block();
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::ALREADY_EXISTS);
  *request.mutable_volume_capabilities(0) = Mount();
  (*request.mutable_parameters())["thick"] = "true";
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::ALREADY_EXISTS);
  request.clear_parameters();
  auto other = CreateOk("pvc-2").volume();
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(other.volume_id());
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, request), C::ALREADY_EXISTS);
}

TEST_F(DriverTest, CloneCarriesContentSourceAndMayGrow) {
  auto source = CreateOk("pvc-src", 64 * kMiB).volume();
  pb::CreateVolumeRequest request;
  request.set_name("pvc-clone");
  request.mutable_capacity_range()->set_required_bytes(128 * kMiB);
  *request.add_volume_capabilities() = Mount();
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source.volume_id());
  pb::CreateVolumeResponse response;
  ASSERT_EQ(Code(&pb::Controller::Stub::CreateVolume, request, &response), C::OK);
  EXPECT_EQ(response.volume().capacity_bytes(), 128 * kMiB);
  EXPECT_EQ(response.volume().content_source().volume().volume_id(), source.volume_id());
  pb::CreateVolumeResponse repeat;
  ASSERT_EQ(Code(&pb::Controller::Stub::CreateVolume, request, &repeat), C::OK);
  EXPECT_EQ(repeat.volume().volume_id(), response.volume().volume_id());
  EXPECT_EQ(repeat.volume().content_source().volume().volume_id(), source.volume_id());
}

TEST_F(DriverTest, DeleteVolume) {
  auto volume = CreateOk("pvc-del").volume();
  pb::DeleteVolumeRequest request;
  EXPECT_EQ(Code(&pb::Controller::Stub::DeleteVolume, request), C::INVALID_ARGUMENT);
  request.set_volume_id("garbage");
  EXPECT_EQ(Code(&pb::Controller::Stub::DeleteVolume, request), C::OK);
  request.set_volume_id(volume.volume_id());
  EXPECT_EQ(Code(&pb::Controller::Stub::DeleteVolume, request), C::OK);
  EXPECT_EQ(Code(&pb::Controller::Stub::DeleteVolume, request), C::OK);
  pb::ControllerGetVolumeRequest get;
  get.set_volume_id(volume.volume_id());
  EXPECT_EQ(Code(&pb::Controller::Stub::ControllerGetVolume, get), C::NOT_FOUND);
}

TEST_F(DriverTest, ListVolumesPaginates) {
  std::set<std::string> created;
  for (int i = 0; i < 5; ++i)
    created.insert(CreateOk(fmt::format("pvc-{}", i)).volume().volume_id());
  std::set<std::string> seen;
  pb::ListVolumesRequest request;
  request.set_max_entries(2);
  int pages = 0;
  while (true) {
    pb::ListVolumesResponse response;
    ASSERT_EQ(Code(&pb::Controller::Stub::ListVolumes, request, &response), C::OK);
    EXPECT_LE(response.entries_size(), 2);
    for (const auto& entry : response.entries()) {
      EXPECT_TRUE(seen.insert(entry.volume().volume_id()).second);
      EXPECT_TRUE(entry.status().has_volume_condition());
      EXPECT_FALSE(entry.status().volume_condition().abnormal());
    }
    ++pages;
    if (response.next_token().empty()) break;
    request.set_starting_token(response.next_token());
  }
  EXPECT_EQ(seen, created);
  EXPECT_EQ(pages, 3);

  // A token stays valid when the last volume of its page is deleted.
  request.clear_starting_token();
  pb::ListVolumesResponse first;
  ASSERT_EQ(Code(&pb::Controller::Stub::ListVolumes, request, &first), C::OK);
  pb::DeleteVolumeRequest del;
  del.set_volume_id(first.entries(1).volume().volume_id());
  ASSERT_EQ(Code(&pb::Controller::Stub::DeleteVolume, del), C::OK);
  request.set_starting_token(first.next_token());
  pb::ListVolumesResponse second;
  ASSERT_EQ(Code(&pb::Controller::Stub::ListVolumes, request, &second), C::OK);
  EXPECT_EQ(second.entries_size(), 2);

  request.set_starting_token("bogus");
  EXPECT_EQ(Code(&pb::Controller::Stub::ListVolumes, request), C::ABORTED);
  request.clear_starting_token();
  request.set_max_entries(-1);
  EXPECT_EQ(Code(&pb::Controller::Stub::ListVolumes, request), C::INVALID_ARGUMENT);
}

TEST_F(DriverTest, Snapshots) {
  auto volume = CreateOk("pvc-snap-src").volume();
  pb::CreateSnapshotRequest request;
  request.set_name("snap-1");
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateSnapshot, request), C::INVALID_ARGUMENT);
  request.set_source_volume_id(NewVolumeId());
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateSnapshot, request), C::NOT_FOUND);
  request.set_source_volume_id(volume.volume_id());
  pb::CreateSnapshotResponse created;
  ASSERT_EQ(Code(&pb::Controller::Stub::CreateSnapshot, request, &created), C::OK);
  EXPECT_TRUE(created.snapshot().ready_to_use());
  EXPECT_EQ(created.snapshot().size_bytes(), volume.capacity_bytes());
  EXPECT_EQ(created.snapshot().source_volume_id(), volume.volume_id());
  EXPECT_GT(created.snapshot().creation_time().seconds(), 0);
  pb::CreateSnapshotResponse again;
  ASSERT_EQ(Code(&pb::Controller::Stub::CreateSnapshot, request, &again), C::OK);
  EXPECT_EQ(again.snapshot().snapshot_id(), created.snapshot().snapshot_id());
  auto other = CreateOk("pvc-other").volume();
  request.set_source_volume_id(other.volume_id());
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateSnapshot, request), C::ALREADY_EXISTS);

  pb::GetSnapshotRequest get;
  get.set_snapshot_id(created.snapshot().snapshot_id());
  pb::GetSnapshotResponse got;
  ASSERT_EQ(Code(&pb::Controller::Stub::GetSnapshot, get, &got), C::OK);
  EXPECT_EQ(got.snapshot().snapshot_id(), created.snapshot().snapshot_id());
  get.set_snapshot_id(NewSnapshotId());
  EXPECT_EQ(Code(&pb::Controller::Stub::GetSnapshot, get), C::NOT_FOUND);

  pb::ListSnapshotsRequest list;
  pb::ListSnapshotsResponse listed;
  list.set_source_volume_id(volume.volume_id());
  ASSERT_EQ(Code(&pb::Controller::Stub::ListSnapshots, list, &listed), C::OK);
  EXPECT_EQ(listed.entries_size(), 1);
  list.set_source_volume_id(other.volume_id());
  listed.Clear();
  ASSERT_EQ(Code(&pb::Controller::Stub::ListSnapshots, list, &listed), C::OK);
  EXPECT_EQ(listed.entries_size(), 0);
  list.Clear();
  list.set_snapshot_id("nonsense");
  listed.Clear();
  ASSERT_EQ(Code(&pb::Controller::Stub::ListSnapshots, list, &listed), C::OK);
  EXPECT_EQ(listed.entries_size(), 0);
  list.Clear();
  list.set_starting_token("nonsense");
  EXPECT_EQ(Code(&pb::Controller::Stub::ListSnapshots, list), C::ABORTED);

  // Restore, then delete the source volume: the snapshot stays usable.
  pb::CreateVolumeRequest restore;
  restore.set_name("pvc-restored");
  *restore.add_volume_capabilities() = Mount();
  restore.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(
      created.snapshot().snapshot_id());
  pb::CreateVolumeResponse restored;
  ASSERT_EQ(Code(&pb::Controller::Stub::CreateVolume, restore, &restored), C::OK);
  EXPECT_EQ(restored.volume().capacity_bytes(), volume.capacity_bytes());
  EXPECT_EQ(restored.volume().content_source().snapshot().snapshot_id(),
            created.snapshot().snapshot_id());
  pb::DeleteVolumeRequest del;
  del.set_volume_id(volume.volume_id());
  ASSERT_EQ(Code(&pb::Controller::Stub::DeleteVolume, del), C::OK);
  request.set_source_volume_id(volume.volume_id());
  ASSERT_EQ(Code(&pb::Controller::Stub::CreateSnapshot, request, &again), C::OK);

  pb::DeleteSnapshotRequest delete_snapshot;
  EXPECT_EQ(Code(&pb::Controller::Stub::DeleteSnapshot, delete_snapshot), C::INVALID_ARGUMENT);
  delete_snapshot.set_snapshot_id(created.snapshot().snapshot_id());
  EXPECT_EQ(Code(&pb::Controller::Stub::DeleteSnapshot, delete_snapshot), C::OK);
  EXPECT_EQ(Code(&pb::Controller::Stub::DeleteSnapshot, delete_snapshot), C::OK);
}

// "consistency": "crash" in a snapshot's or a clone's parameters copies a
// mounted volume without freezing it; the default freezes; any other value
// is INVALID_ARGUMENT.
TEST_F(DriverTest, ConsistencyCrashCopiesAMountedVolumeWithoutAFreeze) {
  auto volume = CreateOk("pvc-busy").volume();
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(volume.volume_id())), C::OK);
  const int freezes = host_.freeze_count();

  pb::CreateSnapshotRequest snapshot;
  snapshot.set_name("snap-crash");
  snapshot.set_source_volume_id(volume.volume_id());
  (*snapshot.mutable_parameters())["consistency"] = "crash";
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateSnapshot, snapshot), C::OK);
  pb::CreateVolumeRequest clone;
  clone.set_name("pvc-crash-clone");
  *clone.add_volume_capabilities() = Mount();
  clone.mutable_volume_content_source()->mutable_volume()->set_volume_id(volume.volume_id());
  (*clone.mutable_parameters())["consistency"] = "crash";
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, clone), C::OK);
  EXPECT_EQ(host_.freeze_count(), freezes) << "a crash-consistent copy froze the volume";

  snapshot.set_name("snap-frozen");
  (*snapshot.mutable_parameters())["consistency"] = "filesystem";
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateSnapshot, snapshot), C::OK);
  EXPECT_EQ(host_.freeze_count(), freezes + 1);

  snapshot.set_name("snap-bad");
  (*snapshot.mutable_parameters())["consistency"] = "sometimes";
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateSnapshot, snapshot), C::INVALID_ARGUMENT);
  clone.set_name("pvc-bad-clone");
  (*clone.mutable_parameters())["consistency"] = "sometimes";
  EXPECT_EQ(Code(&pb::Controller::Stub::CreateVolume, clone), C::INVALID_ARGUMENT);
  EXPECT_EQ(host_.freeze_count(), freezes + 1);
}

TEST_F(DriverTest, ExpandGetVolumeAndCondition) {
  auto volume = CreateOk("pvc-grow", 64 * kMiB).volume();
  pb::ControllerExpandVolumeRequest expand;
  expand.set_volume_id(volume.volume_id());
  EXPECT_EQ(Code(&pb::Controller::Stub::ControllerExpandVolume, expand), C::INVALID_ARGUMENT);
  expand.mutable_capacity_range()->set_required_bytes(128 * kMiB);
  pb::ControllerExpandVolumeResponse expanded;
  ASSERT_EQ(Code(&pb::Controller::Stub::ControllerExpandVolume, expand, &expanded), C::OK);
  EXPECT_EQ(expanded.capacity_bytes(), 128 * kMiB);
  EXPECT_TRUE(expanded.node_expansion_required());
  expand.mutable_capacity_range()->set_required_bytes(32 * kMiB);  // never shrinks
  ASSERT_EQ(Code(&pb::Controller::Stub::ControllerExpandVolume, expand, &expanded), C::OK);
  EXPECT_EQ(expanded.capacity_bytes(), 128 * kMiB);
  expand.mutable_capacity_range()->set_limit_bytes(64 * kMiB);
  EXPECT_EQ(Code(&pb::Controller::Stub::ControllerExpandVolume, expand), C::OUT_OF_RANGE);
  *expand.mutable_volume_capability() = Block();
  expand.mutable_capacity_range()->clear_limit_bytes();
  EXPECT_EQ(Code(&pb::Controller::Stub::ControllerExpandVolume, expand), C::INVALID_ARGUMENT);
  expand.set_volume_id(NewVolumeId());
  expand.clear_volume_capability();
  EXPECT_EQ(Code(&pb::Controller::Stub::ControllerExpandVolume, expand), C::NOT_FOUND);

  pb::ControllerGetVolumeRequest get;
  get.set_volume_id(volume.volume_id());
  pb::ControllerGetVolumeResponse got;
  ASSERT_EQ(Code(&pb::Controller::Stub::ControllerGetVolume, get, &got), C::OK);
  EXPECT_EQ(got.volume().capacity_bytes(), 128 * kMiB);
  EXPECT_FALSE(got.status().volume_condition().abnormal());
  ASSERT_TRUE(host_.Remove(driver_->pool().VolumePath(volume.volume_id())).ok());
  got.Clear();
  ASSERT_EQ(Code(&pb::Controller::Stub::ControllerGetVolume, get, &got), C::OK);
  EXPECT_TRUE(got.status().volume_condition().abnormal());
  EXPECT_FALSE(got.status().volume_condition().message().empty());
}

TEST_F(DriverTest, ValidateVolumeCapabilitiesAndCapacity) {
  auto volume = CreateOk("pvc-val").volume();
  pb::ValidateVolumeCapabilitiesRequest request;
  request.set_volume_id(volume.volume_id());
  EXPECT_EQ(Code(&pb::Controller::Stub::ValidateVolumeCapabilities, request), C::INVALID_ARGUMENT);
  *request.add_volume_capabilities() = Mount();
  pb::ValidateVolumeCapabilitiesResponse response;
  ASSERT_EQ(Code(&pb::Controller::Stub::ValidateVolumeCapabilities, request, &response), C::OK);
  EXPECT_TRUE(response.has_confirmed());
  *request.mutable_volume_capabilities(0) = Mount("", Mode::MULTI_NODE_MULTI_WRITER);
  response.Clear();
  ASSERT_EQ(Code(&pb::Controller::Stub::ValidateVolumeCapabilities, request, &response), C::OK);
  EXPECT_FALSE(response.has_confirmed());
  EXPECT_FALSE(response.message().empty());
  *request.mutable_volume_capabilities(0) = Block();
  response.Clear();
  ASSERT_EQ(Code(&pb::Controller::Stub::ValidateVolumeCapabilities, request, &response), C::OK);
  EXPECT_FALSE(response.has_confirmed());
  request.set_volume_id(NewVolumeId());
  EXPECT_EQ(Code(&pb::Controller::Stub::ValidateVolumeCapabilities, request), C::NOT_FOUND);

  pb::GetCapacityRequest capacity;
  pb::GetCapacityResponse available;
  ASSERT_EQ(Code(&pb::Controller::Stub::GetCapacity, capacity, &available), C::OK);
  EXPECT_GT(available.available_capacity(), 0);
  (*capacity.mutable_accessible_topology()->mutable_segments())[kTopologyKey] = "node-b";
  ASSERT_EQ(Code(&pb::Controller::Stub::GetCapacity, capacity, &available), C::OK);
  EXPECT_EQ(available.available_capacity(), 0);
}

TEST_F(DriverTest, StagePublishUnpublishUnstage) {
  auto volume = CreateOk("pvc-node").volume();
  const std::string id = volume.volume_id();
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(id)), C::OK);
  EXPECT_EQ(ToolsRun(), (std::vector<std::string>{"blkid", "mkfs.ext4"}));
  EXPECT_TRUE(Mounted("/staging/a"));
  auto stage = driver_->pool().catalog().FindStage(id);
  ASSERT_TRUE(stage.ok() && stage->has_value());
  EXPECT_FALSE((*stage)->block);
  EXPECT_EQ((*stage)->fs_type, "ext4");

  // Idempotent repeat; another path or capability is ALREADY_EXISTS.
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(id)), C::OK);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(id, Mount(), "/staging/b")),
            C::ALREADY_EXISTS);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume,
                     Stage(id, Mount("", Mode::SINGLE_NODE_WRITER, {"noatime"}))),
            C::ALREADY_EXISTS);
  // A staged volume cannot be deleted.
  pb::DeleteVolumeRequest del;
  del.set_volume_id(id);
  EXPECT_EQ(Code(&pb::Controller::Stub::DeleteVolume, del), C::FAILED_PRECONDITION);

  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume, Publish(id, "/pods/t1")), C::OK);
  EXPECT_TRUE(Mounted("/pods/t1"));
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume, Publish(id, "/pods/t1")), C::OK);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume, Publish(id, "/pods/t1", Mount(), true)),
            C::ALREADY_EXISTS);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume, Publish(id, "/pods/t2")),
            C::FAILED_PRECONDITION);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume,
                     Publish(id, "/pods/t2", Mount("", Mode::SINGLE_NODE_MULTI_WRITER))),
            C::OK);

  pb::NodeGetVolumeStatsRequest stats;
  stats.set_volume_id(id);
  stats.set_volume_path("/pods/t1");
  pb::NodeGetVolumeStatsResponse usage;
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeGetVolumeStats, stats, &usage), C::OK);
  ASSERT_EQ(usage.usage_size(), 2);
  EXPECT_GT(usage.usage(0).total(), 0);
  EXPECT_FALSE(usage.volume_condition().abnormal()) << usage.volume_condition().message();
  stats.set_volume_path("/pods/elsewhere");
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeGetVolumeStats, stats), C::NOT_FOUND);

  pb::NodeUnstageVolumeRequest unstage;
  unstage.set_volume_id(id);
  unstage.set_staging_target_path("/staging/a");
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeUnstageVolume, unstage), C::FAILED_PRECONDITION);

  for (std::string target : {"/pods/t1", "/pods/t2"}) {
    pb::NodeUnpublishVolumeRequest unpublish;
    unpublish.set_volume_id(id);
    unpublish.set_target_path(target);
    ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeUnpublishVolume, unpublish), C::OK);
    EXPECT_FALSE(Mounted(target));
    EXPECT_TRUE(absl::IsNotFound(host_.Stat(target).status()));
    EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeUnpublishVolume, unpublish), C::OK);
  }
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeUnstageVolume, unstage), C::OK);
  EXPECT_FALSE(Mounted("/staging/a"));
  EXPECT_TRUE(host_.ListLoops()->empty());
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeUnstageVolume, unstage), C::OK);
  EXPECT_FALSE(driver_->pool().catalog().FindStage(id)->has_value());

  // Staging again finds the filesystem: no mkfs; it already fills the
  // device, so no grow either.
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(id)), C::OK);
  EXPECT_EQ(ToolsRun(),
            (std::vector<std::string>{"blkid", "mkfs.ext4", "blkid", "blkid", "dumpe2fs"}));
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeUnstageVolume, unstage), C::OK);
}

TEST_F(DriverTest, NeverReformatsAnotherFilesystem) {
  auto volume = CreateOk("pvc-xfs-data").volume();
  filesystems_[driver_->pool().VolumePath(volume.volume_id())] = "xfs";
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(volume.volume_id(), Mount("ext4"))),
            C::FAILED_PRECONDITION);
  for (const auto& argv : host_.commands()) EXPECT_NE(argv[0], "mkfs.ext4");
  EXPECT_TRUE(host_.ListLoops()->empty());  // the failed stage left nothing attached
}

TEST_F(DriverTest, BlockVolumes) {
  auto volume = CreateOk("pvc-block", 64 * kMiB, Block()).volume();
  const std::string id = volume.volume_id();
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(id, Mount())), C::FAILED_PRECONDITION);
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(id, Block())), C::OK);
  EXPECT_TRUE(host_.commands().empty());  // no blkid, no mkfs
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume, Publish(id, "/pods/dev", Block())), C::OK);
  auto target = host_.Stat("/pods/dev");
  ASSERT_TRUE(target.ok());
  EXPECT_TRUE(target->is_regular);
  EXPECT_TRUE(Mounted("/pods/dev"));

  pb::NodeGetVolumeStatsRequest stats;
  stats.set_volume_id(id);
  stats.set_volume_path("/pods/dev");
  pb::NodeGetVolumeStatsResponse usage;
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeGetVolumeStats, stats, &usage), C::OK);
  ASSERT_EQ(usage.usage_size(), 1);
  EXPECT_EQ(usage.usage(0).total(), 64 * kMiB);

  pb::ControllerExpandVolumeRequest expand;
  expand.set_volume_id(id);
  expand.mutable_capacity_range()->set_required_bytes(96 * kMiB);
  ASSERT_EQ(Code(&pb::Controller::Stub::ControllerExpandVolume, expand), C::OK);
  pb::NodeExpandVolumeRequest node_expand;
  node_expand.set_volume_id(id);
  node_expand.set_volume_path("/pods/dev");
  node_expand.mutable_capacity_range()->set_required_bytes(96 * kMiB);
  pb::NodeExpandVolumeResponse node_expanded;
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeExpandVolume, node_expand, &node_expanded), C::OK);
  EXPECT_EQ(node_expanded.capacity_bytes(), 96 * kMiB);
  node_expand.mutable_capacity_range()->set_required_bytes(200 * kMiB);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeExpandVolume, node_expand), C::OUT_OF_RANGE);
}

TEST_F(DriverTest, NodeRequestErrors) {
  auto volume = CreateOk("pvc-errors").volume();
  const std::string id = volume.volume_id();
  auto stage = Stage(id);
  stage.clear_volume_id();
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, stage), C::INVALID_ARGUMENT);
  stage = Stage(id);
  stage.clear_staging_target_path();
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, stage), C::INVALID_ARGUMENT);
  stage = Stage(id);
  stage.clear_volume_capability();
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, stage), C::INVALID_ARGUMENT);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(id, Mount(), "relative")),
            C::INVALID_ARGUMENT);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(id, Mount(), "/proc/self")),
            C::INVALID_ARGUMENT);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(NewVolumeId())), C::NOT_FOUND);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage("some-volume")), C::NOT_FOUND);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume,
                     Stage(id, Mount("", Mode::MULTI_NODE_MULTI_WRITER))),
            C::FAILED_PRECONDITION);

  auto publish = Publish(id, "/pods/t");
  publish.clear_staging_target_path();
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume, publish), C::FAILED_PRECONDITION);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume, Publish(id, "/pods/t")),
            C::FAILED_PRECONDITION);  // not staged
  publish = Publish(id, "/pods/t");
  publish.clear_target_path();
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume, publish), C::INVALID_ARGUMENT);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodePublishVolume, Publish(NewVolumeId(), "/pods/t")),
            C::NOT_FOUND);

  pb::NodeUnpublishVolumeRequest unpublish;
  unpublish.set_target_path("/pods/t");
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeUnpublishVolume, unpublish), C::INVALID_ARGUMENT);
  unpublish.set_volume_id(NewVolumeId());
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeUnpublishVolume, unpublish), C::NOT_FOUND);
  pb::NodeUnstageVolumeRequest unstage;
  unstage.set_volume_id(id);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeUnstageVolume, unstage), C::INVALID_ARGUMENT);
  unstage.set_staging_target_path("/staging/a");
  unstage.set_volume_id(NewVolumeId());
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeUnstageVolume, unstage), C::NOT_FOUND);

  pb::NodeGetVolumeStatsRequest stats;
  stats.set_volume_id(id);
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeGetVolumeStats, stats), C::INVALID_ARGUMENT);
  stats.set_volume_path("/pods/none");
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeGetVolumeStats, stats), C::NOT_FOUND);
  pb::NodeExpandVolumeRequest expand;
  expand.set_volume_id(NewVolumeId());
  expand.set_volume_path("/pods/none");
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeExpandVolume, expand), C::NOT_FOUND);

  pb::NodeGetInfoResponse info;
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeGetInfo, pb::NodeGetInfoRequest(), &info), C::OK);
  EXPECT_EQ(info.node_id(), kNode);
  EXPECT_EQ(info.accessible_topology().segments().at(kTopologyKey), kNode);
}

TEST_F(DriverTest, ConcurrentStageOfOneVolumeIsAborted) {
  auto volume = CreateOk("pvc-race").volume();
  block_mkfs_ = true;
  auto first = std::async(std::launch::async, [&] {
    return NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(volume.volume_id()));
  });
  mkfs_started_.get_future().wait();  // the first stage is inside mkfs, holding the volume
  EXPECT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume, Stage(volume.volume_id())), C::ABORTED);
  pb::DeleteVolumeRequest del;
  del.set_volume_id(volume.volume_id());
  EXPECT_EQ(Code(&pb::Controller::Stub::DeleteVolume, del), C::ABORTED);
  release_mkfs_.set_value();
  EXPECT_EQ(first.get(), C::OK);
}

TEST_F(DriverTest, ObserverSeesEveryRpcWithoutMountFlags) {
  auto volume = CreateOk("pvc-observed").volume();
  ASSERT_EQ(NodeCode(&pb::Node::Stub::NodeStageVolume,
                     Stage(volume.volume_id(), Mount("", Mode::SINGLE_NODE_WRITER, {"nodiscard"}))),
            C::OK);
  auto lines = observer_->Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "CreateVolume name=pvc-observed 0");
  EXPECT_EQ(lines[1], fmt::format("NodeStageVolume volume_id={} staging_target_path=/staging/a 0",
                                  volume.volume_id()));
}

TEST(DriverModeTest, ModesServeTheirServicesOnly) {
  for (DriverMode mode : {DriverMode::kController, DriverMode::kNode}) {
    char pattern[] = "/tmp/ditto-csi-mode-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    host::FakeHost host;
    DriverOptions options;
    options.node_id = kNode;
    options.pool_dir = pattern;
    options.mode = mode;
    options.init_pool_if_missing = true;
    options.pool_init.backing = pool::Backing::kNever;
    options.pool_init.backend = pool::BackendChoice::kXfs;
    options.log_rpcs = false;
    auto driver = Driver::Open(host, options);
    ASSERT_TRUE(driver.ok()) << driver.status();
    grpc::ServerBuilder builder;
    (*driver)->RegisterServices(builder);
    auto server = builder.BuildAndStart();
    auto channel = csi::InProcessChannel(*server);
    grpc::ClientContext c1, c2, c3;
    pb::ProbeResponse probe;
    EXPECT_TRUE(pb::Identity::NewStub(channel)->Probe(&c1, {}, &probe).ok());
    pb::ControllerGetCapabilitiesResponse controller;
    auto controller_status =
        pb::Controller::NewStub(channel)->ControllerGetCapabilities(&c2, {}, &controller);
    pb::NodeGetInfoResponse node;
    auto node_status = pb::Node::NewStub(channel)->NodeGetInfo(&c3, {}, &node);
    EXPECT_EQ(controller_status.error_code(), mode == DriverMode::kController
                                                  ? grpc::StatusCode::OK
                                                  : grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_EQ(node_status.error_code(),
              mode == DriverMode::kNode ? grpc::StatusCode::OK : grpc::StatusCode::UNIMPLEMENTED);
    server->Shutdown();
    driver->reset();
    std::filesystem::remove_all(pattern);
  }
}

TEST(DriverModeTest, RejectsBadOptions) {
  host::FakeHost host;
  DriverOptions options;
  options.pool_dir = "/tmp/nowhere";
  EXPECT_TRUE(absl::IsInvalidArgument(Driver::Open(host, options).status()));  // no node ID
  options.node_id = kNode;
  options.driver_name = "-bad_name-";
  EXPECT_TRUE(absl::IsInvalidArgument(Driver::Open(host, options).status()));
  options.driver_name = "ditto.csi.dev";
  EXPECT_FALSE(Driver::Open(host, options).ok());  // not a pool
}

}  // namespace
}  // namespace ditto::csi
