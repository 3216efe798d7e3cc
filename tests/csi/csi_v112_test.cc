// The CSI v1.12 additions over a real dittod (root): ControllerModifyVolume
// and CreateVolume.mutable_parameters, the SnapshotMetadata service and the
// GroupController service, each with the error codes of the spec's tables
// and the cases csi-sanity sends.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <set>

#include "fmt/format.h"
#include "reliability/daemon_fixture.h"
#include "support/require_root.h"
#include "support/pool_paths.h"

namespace ditto::reliability {
namespace {

using C = grpc::StatusCode;
constexpr int64_t kMiB = 1 << 20;
constexpr int64_t kBlock = 4096;

class CsiV112Test : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(StartDaemon());
    metadata_ = pb::SnapshotMetadata::NewStub(daemon().channel());
    groups_ = pb::GroupController::NewStub(daemon().channel());
  }
  std::string VolumePath(const std::string& id) {
    return test::PoolImagePath(work_.DataDir(), "volumes", id);
  }
  uint64_t AllocatedBytes(const std::string& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
    return static_cast<uint64_t>(info.st_blocks) * 512;
  }
  std::string NewVolume(const std::string& name, int64_t bytes,
                        std::map<std::string, std::string> mutable_parameters = {}) {
    auto request = VolumeRequest(name, bytes);
    for (const auto& [key, value] : mutable_parameters) {
      (*request.mutable_mutable_parameters())[key] = value;
    }
    pb::CreateVolumeResponse response;
    auto status = csi().CreateVolume(request, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return response.volume().volume_id();
  }
  grpc::Status Modify(const std::string& id, std::map<std::string, std::string> parameters) {
    pb::ControllerModifyVolumeRequest request;
    request.set_volume_id(id);
    for (const auto& [key, value] : parameters) (*request.mutable_mutable_parameters())[key] = value;
    pb::ControllerModifyVolumeResponse response;
    return csi().controller().ControllerModifyVolume(csi().Context().get(), request, &response);
  }
  void WriteImage(const std::string& path, int64_t offset, const std::string& data) {
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), offset), static_cast<ssize_t>(data.size()));
    ASSERT_EQ(::fsync(fd), 0);
    ::close(fd);
  }
  std::string Snapshot(const std::string& name, const std::string& volume) {
    pb::CreateSnapshotResponse response;
    auto status = csi().CreateSnapshot(name, volume, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return response.snapshot().snapshot_id();
  }

  struct Streamed {
    grpc::Status status;
    std::vector<pb::BlockMetadata> tuples;
    int messages = 0;
    int64_t capacity = -1;
    bool variable = true;
    size_t largest_message = 0;
  };
  template <typename Response>
  Streamed Drain(grpc::ClientReader<Response>& reader) {
    Streamed out;
    Response response;
    while (reader.Read(&response)) {
      ++out.messages;
      out.capacity = response.volume_capacity_bytes();
      out.variable = out.variable && response.block_metadata_type() == pb::VARIABLE_LENGTH;
      out.largest_message = std::max<size_t>(out.largest_message, response.block_metadata_size());
      for (const auto& tuple : response.block_metadata()) out.tuples.push_back(tuple);
    }
    out.status = reader.Finish();
    return out;
  }
  Streamed Allocated(const std::string& id, int64_t start = 0, int32_t max_results = 0) {
    pb::GetMetadataAllocatedRequest request;
    request.set_snapshot_id(id);
    request.set_starting_offset(start);
    request.set_max_results(max_results);
    auto context = csi().Context();
    auto reader = metadata_->GetMetadataAllocated(context.get(), request);
    return Drain(*reader);
  }
  Streamed Delta(const std::string& base, const std::string& target, int64_t start = 0,
                 int32_t max_results = 0) {
    pb::GetMetadataDeltaRequest request;
    request.set_base_snapshot_id(base);
    request.set_target_snapshot_id(target);
    request.set_starting_offset(start);
    request.set_max_results(max_results);
    auto context = csi().Context();
    auto reader = metadata_->GetMetadataDelta(context.get(), request);
    return Drain(*reader);
  }

  grpc::Status CreateGroup(const std::string& name, const std::vector<std::string>& volumes,
                           pb::CreateVolumeGroupSnapshotResponse* response) {
    pb::CreateVolumeGroupSnapshotRequest request;
    request.set_name(name);
    for (const auto& id : volumes) request.add_source_volume_ids(id);
    return groups_->CreateVolumeGroupSnapshot(csi().Context().get(), request, response);
  }
  grpc::Status GetGroup(const std::string& id, const std::vector<std::string>& snapshots,
                        pb::GetVolumeGroupSnapshotResponse* response = nullptr) {
    pb::GetVolumeGroupSnapshotRequest request;
    request.set_group_snapshot_id(id);
    for (const auto& snapshot : snapshots) request.add_snapshot_ids(snapshot);
    pb::GetVolumeGroupSnapshotResponse ignored;
    return groups_->GetVolumeGroupSnapshot(csi().Context().get(), request,
                                           response ? response : &ignored);
  }
  grpc::Status DeleteGroup(const std::string& id, const std::vector<std::string>& snapshots) {
    pb::DeleteVolumeGroupSnapshotRequest request;
    request.set_group_snapshot_id(id);
    for (const auto& snapshot : snapshots) request.add_snapshot_ids(snapshot);
    pb::DeleteVolumeGroupSnapshotResponse response;
    return groups_->DeleteVolumeGroupSnapshot(csi().Context().get(), request, &response);
  }

  std::unique_ptr<pb::SnapshotMetadata::Stub> metadata_;
  std::unique_ptr<pb::GroupController::Stub> groups_;
};

TEST_F(CsiV112Test, CapabilitiesAdvertiseModifyAndSnapshotMetadata) {
  pb::ControllerGetCapabilitiesResponse controller;
  ASSERT_TRUE(csi().controller()
                  .ControllerGetCapabilities(csi().Context().get(), {}, &controller)
                  .ok());
  bool modify = false;
  for (const auto& capability : controller.capabilities()) {
    modify |= capability.rpc().type() == pb::ControllerServiceCapability::RPC::MODIFY_VOLUME;
  }
  EXPECT_TRUE(modify);
  pb::GetPluginCapabilitiesResponse plugin;
  ASSERT_TRUE(csi().identity().GetPluginCapabilities(csi().Context().get(), {}, &plugin).ok());
  std::set<int> services;
  for (const auto& capability : plugin.capabilities()) {
    if (capability.has_service()) services.insert(capability.service().type());
  }
  EXPECT_TRUE(services.count(pb::PluginCapability::Service::SNAPSHOT_METADATA_SERVICE));
  EXPECT_TRUE(services.count(pb::PluginCapability::Service::GROUP_CONTROLLER_SERVICE));
  pb::GroupControllerGetCapabilitiesResponse group;
  ASSERT_TRUE(groups_->GroupControllerGetCapabilities(csi().Context().get(), {}, &group).ok());
  ASSERT_EQ(group.capabilities_size(), 1);
  EXPECT_EQ(group.capabilities(0).rpc().type(),
            pb::GroupControllerServiceCapability::RPC::CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT);
}

TEST_F(CsiV112Test, ModifyVolumeErrorTableAndCsiSanityCases) {
  EXPECT_EQ(Modify("", {{"provisioning", "thick"}}).error_code(), C::INVALID_ARGUMENT);
  EXPECT_EQ(Modify("non-existing-volume-id", {}).error_code(), C::NOT_FOUND);
  EXPECT_EQ(Modify("vol-0123456789abcdef0123456789abcdef", {{"provisioning", "thick"}}).error_code(),
            C::NOT_FOUND);
  std::string id = NewVolume("modify-errors", 16 * kMiB);
  ASSERT_FALSE(id.empty());
  auto unknown = Modify(id, {{"XXX_FakeKey", "XXX_FakeValue"}});
  EXPECT_EQ(unknown.error_code(), C::INVALID_ARGUMENT);
  EXPECT_NE(unknown.error_message().find("provisioning"), std::string::npos)
      << unknown.error_message();
  auto immutable = Modify(id, {{"fsType", "xfs"}});
  EXPECT_EQ(immutable.error_code(), C::INVALID_ARGUMENT);
  EXPECT_NE(immutable.error_message().find("cannot change"), std::string::npos);
  EXPECT_EQ(Modify(id, {{"provisioning", "fat"}}).error_code(), C::INVALID_ARGUMENT);
  // Nothing was changed by the refused calls.
  EXPECT_EQ(AllocatedBytes(VolumePath(id)), 0u);
  // No keys: nothing to change (csi-sanity without mutable parameters).
  EXPECT_TRUE(Modify(id, {}).ok());
  // CreateVolume refuses unknown mutable parameters.
  auto request = VolumeRequest("bad-mutable", 16 * kMiB);
  (*request.mutable_mutable_parameters())["XXX_FakeKey"] = "XXX_FakeValue";
  EXPECT_EQ(csi().CreateVolume(request).error_code(), C::INVALID_ARGUMENT);
}

TEST_F(CsiV112Test, ThinBecomesThickFullyAllocatedAndUnshared) {
  std::string id = NewVolume("thin", 32 * kMiB);
  ASSERT_FALSE(id.empty());
  ASSERT_NO_FATAL_FAILURE(WriteImage(VolumePath(id), 0, std::string(kMiB, 'x')));
  std::string snapshot = Snapshot("thin-snap", id);  // shares the written MiB
  ASSERT_FALSE(snapshot.empty());
  EXPECT_LT(AllocatedBytes(VolumePath(id)), 2u * kMiB);
  auto status = Modify(id, {{"provisioning", "thick"}});
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(AllocatedBytes(VolumePath(id)), 32u * kMiB);
  auto again = Modify(id, {{"provisioning", "thick"}});
  EXPECT_TRUE(again.ok()) << Describe(again);  // idempotent
  // The delta against the snapshot taken before: the rewritten MiB is now
  // the volume's own, so a snapshot after it differs there and in the holes.
  EXPECT_TRUE(Modify(id, {{"provisioning", "thin"}}).ok());

  // Made thick from the start by mutable_parameters (they win over parameters).
  std::string thick = NewVolume("thick-at-birth", 8 * kMiB, {{"provisioning", "thick"}});
  ASSERT_FALSE(thick.empty());
  EXPECT_EQ(AllocatedBytes(VolumePath(thick)), 8u * kMiB);
}

TEST_F(CsiV112Test, AStagedVolumeBecomesThickWithItsFilesIntact) {
  // Mounted: XFS unshares in the kernel, btrfs rewrites the image a frozen
  // piece at a time.
  std::string id = NewVolume("staged-thick", 48 * kMiB);
  ASSERT_FALSE(id.empty());
  const std::string staging = work_.StagingPath("staged-thick");
  ASSERT_TRUE(csi().NodeStage(id, staging).ok());
  const std::string content(3 * kMiB, 'q');
  ASSERT_TRUE(WriteFileSynced(staging + "/data.bin", content).ok());
  std::string snapshot = Snapshot("staged-thick-snap", id);
  ASSERT_FALSE(snapshot.empty());
  auto status = Modify(id, {{"provisioning", "thick"}});
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_GE(AllocatedBytes(VolumePath(id)), 48u * kMiB);
  // Still writable (thawed) and holding its data.
  ASSERT_TRUE(WriteFileSynced(staging + "/after.bin", "after").ok());
  auto read = ReadWholeFile(staging + "/data.bin");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == content);
  EXPECT_TRUE(csi().NodeUnstage(id, staging).ok());
}

TEST_F(CsiV112Test, ThickWithoutPoolSpaceIsResourceExhaustedAndChangesNothing) {
  // 512 MiB pool, over-commit allows a 2 GiB thin volume.
  std::string id = NewVolume("too-big", 2048 * kMiB);
  ASSERT_FALSE(id.empty());
  auto status = Modify(id, {{"provisioning", "thick"}});
  EXPECT_EQ(status.error_code(), C::RESOURCE_EXHAUSTED) << Describe(status);
  EXPECT_EQ(AllocatedBytes(VolumePath(id)), 0u);
}

TEST_F(CsiV112Test, SnapshotMetadataErrorTable) {
  EXPECT_EQ(Allocated("").status.error_code(), C::INVALID_ARGUMENT);
  EXPECT_EQ(Allocated("snap-0123456789abcdef0123456789abcdef").status.error_code(), C::NOT_FOUND);
  EXPECT_EQ(Allocated("not-an-id").status.error_code(), C::NOT_FOUND);
  std::string volume = NewVolume("meta-errors", 16 * kMiB);
  std::string other = NewVolume("meta-other", 16 * kMiB);
  std::string a = Snapshot("meta-a", volume);
  std::string b = Snapshot("meta-b", volume);
  std::string c = Snapshot("meta-c", other);
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());
  EXPECT_EQ(Allocated(a, -1).status.error_code(), C::OUT_OF_RANGE);
  EXPECT_EQ(Allocated(a, 16 * kMiB + 1).status.error_code(), C::OUT_OF_RANGE);
  EXPECT_TRUE(Allocated(a, 16 * kMiB).status.ok());
  EXPECT_EQ(Allocated(a, 0, -1).status.error_code(), C::INVALID_ARGUMENT);
  EXPECT_EQ(Delta("", b).status.error_code(), C::INVALID_ARGUMENT);
  EXPECT_EQ(Delta(a, "").status.error_code(), C::INVALID_ARGUMENT);
  EXPECT_EQ(Delta(a, "snap-0123456789abcdef0123456789abcdef").status.error_code(), C::NOT_FOUND);
  EXPECT_EQ(Delta("snap-0123456789abcdef0123456789abcdef", b).status.error_code(), C::NOT_FOUND);
  EXPECT_EQ(Delta(a, c).status.error_code(), C::INVALID_ARGUMENT);  // other volume
  EXPECT_EQ(Delta(b, a).status.error_code(), C::INVALID_ARGUMENT);  // target older
  EXPECT_EQ(Delta(a, b, -4096).status.error_code(), C::OUT_OF_RANGE);
  EXPECT_EQ(Delta(a, b, 0, -1).status.error_code(), C::INVALID_ARGUMENT);
  auto same = Delta(a, b);
  EXPECT_TRUE(same.status.ok()) << Describe(same.status);
  EXPECT_TRUE(same.tuples.empty());
}

TEST_F(CsiV112Test, AllocatedAndDeltaStreamsMatchTheWrittenBlocks) {
  constexpr int64_t kSize = 64 * kMiB;
  std::string volume = NewVolume("meta", kSize);
  ASSERT_FALSE(volume.empty());
  const std::string image = VolumePath(volume);
  ASSERT_NO_FATAL_FAILURE(WriteImage(image, 0, std::string(4 * kMiB, 'a')));
  ASSERT_NO_FATAL_FAILURE(WriteImage(image, 32 * kMiB, std::string(kMiB, 'b')));
  std::string base = Snapshot("meta-base", volume);
  ASSERT_FALSE(base.empty());

  auto allocated = Allocated(base, 0, 1);
  ASSERT_TRUE(allocated.status.ok()) << Describe(allocated.status);
  EXPECT_TRUE(allocated.variable);
  EXPECT_EQ(allocated.capacity, kSize);
  EXPECT_EQ(allocated.largest_message, 1u);  // max_results honoured
  ASSERT_EQ(allocated.tuples.size(), 2u);
  EXPECT_EQ(allocated.tuples[0].byte_offset(), 0);
  EXPECT_EQ(allocated.tuples[0].size_bytes(), 4 * kMiB);
  EXPECT_EQ(allocated.tuples[1].byte_offset(), 32 * kMiB);
  EXPECT_EQ(allocated.tuples[1].size_bytes(), kMiB);
  // Resuming inside a range starts exactly there.
  auto resumed = Allocated(base, kMiB);
  ASSERT_EQ(resumed.tuples.size(), 2u);
  EXPECT_EQ(resumed.tuples[0].byte_offset(), kMiB);
  EXPECT_EQ(resumed.tuples[0].size_bytes(), 3 * kMiB);

  // Known whole blocks written between the snapshots.
  std::set<int64_t> blocks = {0, 1, 100, 1000, 4096, 8192 + 7, kSize / kBlock - 1};
  for (int64_t block : blocks) {
    ASSERT_NO_FATAL_FAILURE(WriteImage(image, block * kBlock, std::string(kBlock, 'z')));
  }
  std::string target = Snapshot("meta-target", volume);
  ASSERT_FALSE(target.empty());
  auto delta = Delta(base, target, 0, 2);
  ASSERT_TRUE(delta.status.ok()) << Describe(delta.status);
  EXPECT_LE(delta.largest_message, 2u);
  std::set<int64_t> reported;
  int64_t previous_end = 0;
  for (const auto& tuple : delta.tuples) {
    EXPECT_GE(tuple.byte_offset(), previous_end);
    EXPECT_GT(tuple.size_bytes(), 0);
    previous_end = tuple.byte_offset() + tuple.size_bytes();
    for (int64_t at = tuple.byte_offset(); at < previous_end; at += kBlock) {
      reported.insert(at / kBlock);
    }
  }
  EXPECT_EQ(reported, blocks);  // every written block, and nothing else
  auto from = Delta(base, target, 1001 * kBlock);
  ASSERT_TRUE(from.status.ok());
  ASSERT_FALSE(from.tuples.empty());
  EXPECT_EQ(from.tuples[0].byte_offset(), 4096 * kBlock);
}

TEST_F(CsiV112Test, GroupControllerErrorTableAndCsiSanityCases) {
  pb::CreateVolumeGroupSnapshotResponse created;
  EXPECT_EQ(CreateGroup("", {}, &created).error_code(), C::INVALID_ARGUMENT);  // no name
  EXPECT_EQ(CreateGroup("g", {}, &created).error_code(), C::INVALID_ARGUMENT);  // no volumes
  EXPECT_EQ(CreateGroup("g", {"vol-0123456789abcdef0123456789abcdef"}, &created).error_code(),
            C::NOT_FOUND);
  EXPECT_EQ(GetGroup("", {}).error_code(), C::INVALID_ARGUMENT);
  EXPECT_EQ(GetGroup("some-invalid-id", {}).error_code(), C::NOT_FOUND);
  EXPECT_EQ(GetGroup("group-0123456789abcdef0123456789abcdef", {}).error_code(), C::NOT_FOUND);
  EXPECT_EQ(DeleteGroup("", {}).error_code(), C::INVALID_ARGUMENT);
  EXPECT_TRUE(DeleteGroup("some-invalid-id", {}).ok());
  EXPECT_TRUE(DeleteGroup("group-0123456789abcdef0123456789abcdef", {}).ok());
}

TEST_F(CsiV112Test, GroupSnapshotOfAMountedAndAnIdleVolumeRestoresEachMember) {
  std::string mounted = NewVolume("group-mounted", 64 * kMiB);
  std::string idle = NewVolume("group-idle", 32 * kMiB);
  ASSERT_FALSE(mounted.empty() || idle.empty());
  ASSERT_NO_FATAL_FAILURE(WriteImage(VolumePath(idle), 0, std::string(kMiB, 'i')));
  std::string stage = work_.StagingPath("group-mounted");
  std::string target = work_.TargetPath("group-mounted");
  ASSERT_TRUE(csi().NodeStage(mounted, stage).ok());
  ASSERT_TRUE(csi().NodePublish(mounted, stage, target).ok());
  ASSERT_TRUE(WriteFileSynced(target + "/before.txt", "written before the group snapshot").ok());

  pb::CreateVolumeGroupSnapshotResponse created;
  auto status = CreateGroup("nightly", {mounted, idle}, &created);
  ASSERT_TRUE(status.ok()) << Describe(status);
  const auto& group = created.group_snapshot();
  EXPECT_TRUE(group.ready_to_use());
  ASSERT_EQ(group.snapshots_size(), 2);
  std::vector<std::string> members;
  std::map<std::string, std::string> snapshot_of;  // volume -> snapshot
  for (const auto& snapshot : group.snapshots()) {
    EXPECT_EQ(snapshot.group_snapshot_id(), group.group_snapshot_id());
    EXPECT_TRUE(snapshot.ready_to_use());
    members.push_back(snapshot.snapshot_id());
    snapshot_of[snapshot.source_volume_id()] = snapshot.snapshot_id();
  }
  ASSERT_EQ(snapshot_of.size(), 2u);
  // The mounted volume was thawed: it takes writes again.
  ASSERT_TRUE(WriteFileSynced(target + "/after.txt", "written after").ok());

  // Idempotent by name; another set of volumes under that name is refused.
  pb::CreateVolumeGroupSnapshotResponse again;
  ASSERT_TRUE(CreateGroup("nightly", {idle, mounted}, &again).ok());
  EXPECT_EQ(again.group_snapshot().group_snapshot_id(), group.group_snapshot_id());
  EXPECT_EQ(CreateGroup("nightly", {idle}, &again).error_code(), C::ALREADY_EXISTS);

  // Get: snapshot_ids must be given and match.
  EXPECT_TRUE(GetGroup(group.group_snapshot_id(), members).ok());
  EXPECT_EQ(GetGroup(group.group_snapshot_id(), {}).error_code(), C::INVALID_ARGUMENT);
  EXPECT_EQ(GetGroup(group.group_snapshot_id(), {members[0]}).error_code(), C::INVALID_ARGUMENT);
  // A member is an ordinary snapshot that knows its group.
  pb::GetSnapshotRequest get;
  get.set_snapshot_id(members[0]);
  pb::GetSnapshotResponse got;
  ASSERT_TRUE(csi().controller().GetSnapshot(csi().Context().get(), get, &got).ok());
  EXPECT_EQ(got.snapshot().group_snapshot_id(), group.group_snapshot_id());

  // Each member restores alone, with its volume's data at the snapshot.
  EXPECT_EQ(SnapshotHash(snapshot_of[idle]), VolumeHash(idle));
  pb::CreateVolumeResponse restored;
  ASSERT_TRUE(csi().CreateVolume(RestoreRequest("restored-idle", snapshot_of[idle]), &restored).ok());
  EXPECT_EQ(VolumeHash(restored.volume().volume_id()), SnapshotHash(snapshot_of[idle]));
  pb::CreateVolumeResponse restored_mounted;
  ASSERT_TRUE(csi()
                  .CreateVolume(RestoreRequest("restored-mounted", snapshot_of[mounted]),
                                &restored_mounted)
                  .ok());
  std::string restored_stage = work_.StagingPath("restored-mounted");
  ASSERT_TRUE(csi().NodeStage(restored_mounted.volume().volume_id(), restored_stage).ok());
  auto before = ReadWholeFile(restored_stage + "/before.txt");
  EXPECT_TRUE(before.ok() && *before == "written before the group snapshot");
  EXPECT_FALSE(ReadWholeFile(restored_stage + "/after.txt").ok());
  EXPECT_TRUE(csi().NodeUnstage(restored_mounted.volume().volume_id(), restored_stage).ok());

  // Delete: snapshot_ids checked, then the group and its snapshots go.
  EXPECT_EQ(DeleteGroup(group.group_snapshot_id(), {members[1]}).error_code(),
            C::INVALID_ARGUMENT);
  ASSERT_TRUE(DeleteGroup(group.group_snapshot_id(), members).ok());
  EXPECT_EQ(GetGroup(group.group_snapshot_id(), members).error_code(), C::NOT_FOUND);
  EXPECT_TRUE(DeleteGroup(group.group_snapshot_id(), members).ok());
  ASSERT_TRUE(csi().controller().GetSnapshot(csi().Context().get(), get, &got).error_code() ==
              C::NOT_FOUND);

  EXPECT_TRUE(csi().NodeUnpublish(mounted, target).ok());
  EXPECT_TRUE(csi().NodeUnstage(mounted, stage).ok());
}

}  // namespace
}  // namespace ditto::reliability
