#include "csi/sanity_parity.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "fmt/format.h"

namespace ditto::reliability::sanity {
namespace {

using Mode = pb::VolumeCapability::AccessMode;

const std::string& Suffix() {
  static const std::string suffix = [] {
    std::random_device random;
    return fmt::format("-{:08X}-{:08X}", random(), random());
  }();
  return suffix;
}

}  // namespace

::testing::AssertionResult HasCode(const grpc::Status& status, grpc::StatusCode code) {
  if (status.error_code() == code) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected code " << static_cast<int>(code) << ", got "
                                       << Describe(status);
}

std::string UniqueString(const std::string& prefix) { return prefix + Suffix(); }

std::string UniqueStringWithLength(const std::string& prefix, size_t length) {
  std::string name = prefix;
  if (name.size() + Suffix().size() < length) name.append(length - name.size() - Suffix().size(), 'X');
  return (name + Suffix()).substr(0, length);
}

void SanityTest::SetUp() {
  DaemonTest::SetUp();
  if (IsSkipped() || HasFatalFailure()) return;
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  groups_ = pb::GroupController::NewStub(daemon().channel());
  mount_dir_ = work_.Join("csi-mount");
  staging_dir_ = work_.Join("csi-staging");
}

void SanityTest::TearDown() {
  if (daemon_ != nullptr) Cleanup();
  DaemonTest::TearDown();
}

void SanityTest::It(const std::string& text, const std::function<void()>& body) {
  SCOPED_TRACE("csi-sanity It(\"" + text + "\")");
  for (const auto& dir : {mount_dir_, staging_dir_}) {
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir << ": " << std::strerror(errno);
  }
  body();
  Cleanup();
  for (const auto& dir : {mount_dir_, staging_dir_}) {
    EXPECT_EQ(::rmdir(dir.c_str()), 0) << dir << " is not empty after the case: "
                                       << std::strerror(errno);
  }
}

// csi-sanity's Resources.Cleanup: last in, first out; for a volume
// NodeUnpublishVolume at the target and NodeUnstageVolume at the staging
// path (OK or NOT_FOUND), then DeleteVolume (OK); for a snapshot
// DeleteSnapshot (OK).
void SanityTest::Cleanup() {
  bool stage = NodeSupports(pb::NodeServiceCapability::RPC::STAGE_UNSTAGE_VOLUME);
  for (auto it = resources_.rbegin(); it != resources_.rend(); ++it) {
    const auto& [id, kind] = *it;
    if (kind == Kind::kSnapshot) {
      pb::DeleteSnapshotRequest request;
      request.set_snapshot_id(id);
      EXPECT_CODE(Call(&pb::Controller::Stub::DeleteSnapshot, controller(), request), C::OK)
          << " (cleanup of snapshot " << id << ")";
      continue;
    }
    pb::NodeUnpublishVolumeRequest unpublish;
    unpublish.set_volume_id(id);
    unpublish.set_target_path(Target());
    auto unpublished = Call(&pb::Node::Stub::NodeUnpublishVolume, node(), unpublish);
    EXPECT_TRUE(unpublished.ok() || unpublished.error_code() == C::NOT_FOUND)
        << "cleanup NodeUnpublishVolume of " << id << ": " << Describe(unpublished);
    if (stage) {
      pb::NodeUnstageVolumeRequest unstage;
      unstage.set_volume_id(id);
      unstage.set_staging_target_path(staging_dir_);
      auto unstaged = Call(&pb::Node::Stub::NodeUnstageVolume, node(), unstage);
      EXPECT_TRUE(unstaged.ok() || unstaged.error_code() == C::NOT_FOUND)
          << "cleanup NodeUnstageVolume of " << id << ": " << Describe(unstaged);
    }
    pb::DeleteVolumeRequest request;
    request.set_volume_id(id);
    EXPECT_CODE(Call(&pb::Controller::Stub::DeleteVolume, controller(), request), C::OK)
        << " (cleanup of volume " << id << ")";
  }
  resources_.clear();
}

void SanityTest::Track(const grpc::Status& status, const std::string& id, Kind kind) {
  if (status.ok() && !id.empty()) resources_.emplace_back(id, kind);
}

void SanityTest::Untrack(const grpc::Status& status, const std::string& id) {
  if (!status.ok()) return;
  for (auto it = resources_.begin(); it != resources_.end(); ++it) {
    if (it->first == id) {
      resources_.erase(it);
      return;
    }
  }
}

grpc::Status SanityTest::CreateVolume(const pb::CreateVolumeRequest& request,
                                      pb::CreateVolumeResponse* response) {
  pb::CreateVolumeResponse local;
  if (response == nullptr) response = &local;
  auto status = Call(&pb::Controller::Stub::CreateVolume, controller(), request, response);
  Track(status, response->volume().volume_id(), Kind::kVolume);
  return status;
}

grpc::Status SanityTest::DeleteVolume(const pb::DeleteVolumeRequest& request) {
  auto status = Call(&pb::Controller::Stub::DeleteVolume, controller(), request);
  Untrack(status, request.volume_id());
  return status;
}

grpc::Status SanityTest::CreateSnapshot(const pb::CreateSnapshotRequest& request,
                                        pb::CreateSnapshotResponse* response) {
  pb::CreateSnapshotResponse local;
  if (response == nullptr) response = &local;
  auto status = Call(&pb::Controller::Stub::CreateSnapshot, controller(), request, response);
  Track(status, response->snapshot().snapshot_id(), Kind::kSnapshot);
  return status;
}

grpc::Status SanityTest::DeleteSnapshot(const pb::DeleteSnapshotRequest& request) {
  auto status = Call(&pb::Controller::Stub::DeleteSnapshot, controller(), request);
  Untrack(status, request.snapshot_id());
  return status;
}

pb::CreateVolumeResponse SanityTest::MustCreateVolume(const pb::CreateVolumeRequest& request) {
  pb::CreateVolumeResponse response;
  auto status = CreateVolume(request, &response);
  EXPECT_TRUE(status.ok()) << "volume create failed: " << Describe(status);
  EXPECT_FALSE(response.volume().volume_id().empty()) << "volume ID in response is missing";
  return response;
}

pb::CreateSnapshotResponse SanityTest::MustCreateSnapshot(const pb::CreateSnapshotRequest& request) {
  pb::CreateSnapshotResponse response;
  auto status = CreateSnapshot(request, &response);
  EXPECT_TRUE(status.ok()) << "create snapshot failed: " << Describe(status);
  // verifySnapshotInfo
  EXPECT_FALSE(response.snapshot().snapshot_id().empty());
  EXPECT_FALSE(response.snapshot().source_volume_id().empty());
  EXPECT_TRUE(response.snapshot().has_creation_time());
  return response;
}

pb::CreateSnapshotResponse SanityTest::MustCreateSnapshotFromVolumeRequest(
    const pb::CreateVolumeRequest& request, const std::string& snapshot_name) {
  auto volume = MustCreateVolume(request);
  return MustCreateSnapshot(MakeCreateSnapshotReq(snapshot_name, volume.volume().volume_id()));
}

pb::VolumeCapability SanityTest::TestVolumeCapability(Mode::Mode mode) const {
  pb::VolumeCapability capability;
  capability.mutable_mount();
  capability.mutable_access_mode()->set_mode(mode);
  return capability;
}

pb::CreateVolumeRequest SanityTest::MakeCreateVolumeReq(const std::string& name) const {
  pb::CreateVolumeRequest request;
  request.set_name(name);
  *request.add_volume_capabilities() = TestVolumeCapability();
  request.mutable_capacity_range()->set_required_bytes(config_.test_volume_size);
  request.mutable_capacity_range()->set_limit_bytes(config_.test_volume_size);
  for (const auto& [key, value] : config_.test_volume_parameters) {
    (*request.mutable_parameters())[key] = value;
  }
  return request;
}

pb::CreateSnapshotRequest SanityTest::MakeCreateSnapshotReq(const std::string& name,
                                                            const std::string& source) const {
  pb::CreateSnapshotRequest request;
  request.set_name(name);
  request.set_source_volume_id(source);
  return request;
}

pb::ControllerExpandVolumeRequest SanityTest::MakeExpandVolumeReq(
    const std::string& volume_id) const {
  pb::ControllerExpandVolumeRequest request;
  request.set_volume_id(volume_id);
  request.mutable_capacity_range()->set_required_bytes(config_.test_volume_expand_size);
  *request.mutable_volume_capability() = TestVolumeCapability();
  return request;
}

pb::ControllerModifyVolumeRequest SanityTest::MakeModifyVolumeReq(
    const std::string& volume_id) const {
  pb::ControllerModifyVolumeRequest request;
  request.set_volume_id(volume_id);
  for (const auto& [key, value] : config_.test_volume_mutable_parameters) {
    (*request.mutable_mutable_parameters())[key] = value;
  }
  return request;
}

pb::NodeGetInfoResponse SanityTest::NodeInfo() {
  pb::NodeGetInfoResponse info;
  EXPECT_CODE(Call(&pb::Node::Stub::NodeGetInfo, node(), pb::NodeGetInfoRequest(), &info), C::OK);
  EXPECT_FALSE(info.node_id().empty());
  return info;
}

pb::TopologyRequirement SanityTest::RequisiteOf(const pb::NodeGetInfoResponse& info) const {
  pb::TopologyRequirement requirement;
  if (info.has_accessible_topology()) *requirement.add_requisite() = info.accessible_topology();
  return requirement;
}

bool SanityTest::ControllerSupports(pb::ControllerServiceCapability::RPC::Type type) {
  pb::ControllerGetCapabilitiesResponse response;
  EXPECT_CODE(Call(&pb::Controller::Stub::ControllerGetCapabilities, controller(),
                   pb::ControllerGetCapabilitiesRequest(), &response),
              C::OK);
  for (const auto& capability : response.capabilities()) {
    if (capability.rpc().type() == type) return true;
  }
  return false;
}

bool SanityTest::NodeSupports(pb::NodeServiceCapability::RPC::Type type) {
  pb::NodeGetCapabilitiesResponse response;
  EXPECT_CODE(
      Call(&pb::Node::Stub::NodeGetCapabilities, node(), pb::NodeGetCapabilitiesRequest(), &response),
      C::OK);
  for (const auto& capability : response.capabilities()) {
    if (capability.rpc().type() == type) return true;
  }
  return false;
}

}  // namespace ditto::reliability::sanity
