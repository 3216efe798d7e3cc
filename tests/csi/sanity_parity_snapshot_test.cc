// csi-sanity's snapshot, expansion and modification cases
// (pkg/sanity/controller.go: "ListSnapshots", "DeleteSnapshot",
// "CreateSnapshot", "ExpandVolume" and "ModifyVolume [Controller Server]")
// over a real dittod, one TEST per Describe, one It() per csi-sanity It, in
// its order.
#include "csi/sanity_parity.h"
#include "fmt/format.h"

namespace ditto::reliability::sanity {
namespace {

using Rpc = pb::ControllerServiceCapability::RPC;

class SanitySnapshots : public SanityTest {
 protected:
  pb::ListSnapshotsResponse List(const pb::ListSnapshotsRequest& request) {
    pb::ListSnapshotsResponse response;
    EXPECT_CODE(Call(&pb::Controller::Stub::ListSnapshots, controller(), request, &response),
                C::OK);
    return response;
  }
  void VerifySnapshotInfo(const pb::Snapshot& snapshot) {
    EXPECT_FALSE(snapshot.snapshot_id().empty());
    EXPECT_FALSE(snapshot.source_volume_id().empty());
    EXPECT_TRUE(snapshot.has_creation_time());
  }
};

TEST_F(SanitySnapshots, ListSnapshots) {
  ASSERT_TRUE(ControllerSupports(Rpc::LIST_SNAPSHOTS));
  It("should return appropriate values (no optional values added)", [&] {
    const pb::ListSnapshotsResponse listed = List({});
    for (const auto& entry : listed.entries()) VerifySnapshotInfo(entry.snapshot());
  });

  // Three snapshots of three volumes; `which` picks the target's field.
  auto three = [&](const std::string& tag) {
    MustCreateSnapshotFromVolumeRequest(
        MakeCreateVolumeReq(UniqueString("listSnapshots-volume-unrelated-" + tag + "-1")),
        UniqueString("listSnapshots-snapshot-unrelated-" + tag + "-1"));
    auto target = MustCreateSnapshotFromVolumeRequest(
        MakeCreateVolumeReq(UniqueString("listSnapshots-volume-target-" + tag)),
        UniqueString("listSnapshots-snapshot-target-" + tag));
    MustCreateSnapshotFromVolumeRequest(
        MakeCreateVolumeReq(UniqueString("listSnapshots-volume-unrelated-" + tag + "-2")),
        UniqueString("listSnapshots-snapshot-unrelated-" + tag + "-2"));
    return target.snapshot();
  };

  It("should return snapshots that match the specified snapshot id", [&] {
    auto target = three("s");
    pb::ListSnapshotsRequest request;
    request.set_snapshot_id(target.snapshot_id());
    auto snapshots = List(request);
    ASSERT_EQ(snapshots.entries_size(), 1);
    VerifySnapshotInfo(snapshots.entries(0).snapshot());
    EXPECT_EQ(snapshots.entries(0).snapshot().snapshot_id(), target.snapshot_id());
  });

  It("should return empty when the specified snapshot id does not exist", [&] {
    pb::ListSnapshotsRequest request;
    request.set_snapshot_id("none-exist-id");
    EXPECT_EQ(List(request).entries_size(), 0);
  });

  It("should return snapshots that match the specified source volume id", [&] {
    auto target = three("v");
    pb::ListSnapshotsRequest request;
    request.set_source_volume_id(target.source_volume_id());
    auto snapshots = List(request);
    ASSERT_EQ(snapshots.entries_size(), 1);
    VerifySnapshotInfo(snapshots.entries(0).snapshot());
    EXPECT_EQ(snapshots.entries(0).snapshot().source_volume_id(), target.source_volume_id());
  });

  It("should return empty when the specified source volume id does not exist", [&] {
    pb::ListSnapshotsRequest request;
    request.set_source_volume_id(UniqueString("fake-vol-id"));
    EXPECT_EQ(List(request).entries_size(), 0);
  });

  It("check the presence of new snapshots in the snapshot list", [&] {
    int total = List({}).entries_size();
    auto snapshot = MustCreateSnapshotFromVolumeRequest(
        MakeCreateVolumeReq(UniqueString("listSnapshots-volume-3")),
        UniqueString("listSnapshots-snapshot-3"));
    EXPECT_EQ(List({}).entries_size(), total + 1);
    pb::DeleteSnapshotRequest del;
    del.set_snapshot_id(snapshot.snapshot().snapshot_id());
    EXPECT_CODE(DeleteSnapshot(del), C::OK);
    EXPECT_EQ(List({}).entries_size(), total);
  });

  It("should return next token when a limited number of entries are requested", [&] {
    int total = List({}).entries_size();
    for (int i = total + 1; i <= 5; ++i) {
      MustCreateSnapshotFromVolumeRequest(MakeCreateVolumeReq(UniqueString(fmt::format("volume{}", i))),
                                          UniqueString(fmt::format("snapshot{}", i)));
    }
    total = std::max(total, 5);
    pb::ListSnapshotsRequest first;
    first.set_max_entries(2);
    auto page = List(first);
    EXPECT_EQ(page.entries_size(), 2);
    pb::ListSnapshotsRequest rest;
    rest.set_starting_token(page.next_token());
    EXPECT_EQ(List(rest).entries_size(), total - 2);  // all the rest at once
  });
}

TEST_F(SanitySnapshots, DeleteSnapshot) {
  It("should fail when no snapshot id is provided", [&] {
    EXPECT_CODE(DeleteSnapshot(pb::DeleteSnapshotRequest()), C::INVALID_ARGUMENT);
  });
  It("should succeed when an invalid snapshot id is used", [&] {
    pb::DeleteSnapshotRequest request;
    request.set_snapshot_id("reallyfakesnapshotid");
    EXPECT_CODE(DeleteSnapshot(request), C::OK);
  });
  It("should return appropriate values (no optional values added)", [&] {
    pb::CreateVolumeResponse volume;
    ASSERT_CODE_OK(CreateVolume(MakeCreateVolumeReq(UniqueString("DeleteSnapshot-volume-1")), &volume));
    MustCreateSnapshot(
        MakeCreateSnapshotReq(UniqueString("DeleteSnapshot-snapshot-1"), volume.volume().volume_id()));
    // The snapshot is deleted by the cleanup, before its volume.
  });
}

TEST_F(SanitySnapshots, CreateSnapshot) {
  It("should fail when no name is provided", [&] {
    pb::CreateSnapshotRequest request;
    request.set_source_volume_id("testId");
    EXPECT_CODE(CreateSnapshot(request), C::INVALID_ARGUMENT);
  });
  It("should fail when no source volume id is provided", [&] {
    pb::CreateSnapshotRequest request;
    request.set_name("name");
    EXPECT_CODE(CreateSnapshot(request), C::INVALID_ARGUMENT);
  });
  It("should succeed when requesting to create a snapshot with already existing name and same "
     "source volume ID",
     [&] {
       auto volume = MustCreateVolume(MakeCreateVolumeReq(UniqueString("CreateSnapshot-volume-1")));
       auto request =
           MakeCreateSnapshotReq(UniqueString("CreateSnapshot-snapshot-1"), volume.volume().volume_id());
       MustCreateSnapshot(request);
       MustCreateSnapshot(request);  // registered twice: the cleanup deletes it twice
     });
  It("should fail when requesting to create a snapshot with already existing name and different "
     "source volume ID",
     [&] {
       std::string name = UniqueString("CreateSnapshot-snapshot-2");
       MustCreateSnapshotFromVolumeRequest(
           MakeCreateVolumeReq(UniqueString("CreateSnapshot-volume-2")), name);
       auto volume2 = MustCreateVolume(MakeCreateVolumeReq(UniqueString("CreateSnapshot-volume-3")));
       EXPECT_CODE(CreateSnapshot(MakeCreateSnapshotReq(name, volume2.volume().volume_id())),
                   C::ALREADY_EXISTS);
     });
  It("should succeed when creating snapshot with maximum-length name", [&] {
    auto volume =
        MustCreateVolume(MakeCreateVolumeReq(UniqueString("CreateSnapshot-volume-maxlen-name")));
    auto request = MakeCreateSnapshotReq(
        UniqueStringWithLength("CreateSnapshot-snapshot-maxlen", 128), volume.volume().volume_id());
    MustCreateSnapshot(request);
    MustCreateSnapshot(request);
  });
}

TEST_F(SanitySnapshots, ExpandVolume) {
  ASSERT_TRUE(ControllerSupports(Rpc::EXPAND_VOLUME));
  It("should fail if no volume id is given", [&] {
    EXPECT_CODE(
        Call(&pb::Controller::Stub::ControllerExpandVolume, controller(), MakeExpandVolumeReq("")),
        C::INVALID_ARGUMENT);
  });
  It("should fail if no capacity range is given", [&] {
    EXPECT_CODE(Call(&pb::Controller::Stub::ControllerExpandVolume, controller(),
                     pb::ControllerExpandVolumeRequest()),
                C::INVALID_ARGUMENT);
  });
  It("should work", [&] {
    pb::CreateVolumeRequest request;
    request.set_name(UniqueString("sanity-expand-volume"));
    *request.add_volume_capabilities() = TestVolumeCapability();
    request.mutable_capacity_range()->set_required_bytes(config_.test_volume_size);
    auto vol = MustCreateVolume(request);
    pb::ControllerExpandVolumeResponse response;
    ASSERT_CODE_OK(Call(&pb::Controller::Stub::ControllerExpandVolume, controller(),
                        MakeExpandVolumeReq(vol.volume().volume_id()), &response));
    EXPECT_EQ(response.capacity_bytes(), config_.test_volume_expand_size);
  });
}

TEST_F(SanitySnapshots, ModifyVolume) {
  ASSERT_TRUE(ControllerSupports(Rpc::MODIFY_VOLUME));
  auto modify = [&](const pb::ControllerModifyVolumeRequest& request) {
    return Call(&pb::Controller::Stub::ControllerModifyVolume, controller(), request);
  };
  auto fake = [&](const std::string& volume_id) {
    pb::ControllerModifyVolumeRequest request;
    request.set_volume_id(volume_id);
    (*request.mutable_mutable_parameters())["XXX_FakeKey"] = "XXX_FakeValue";
    return request;
  };
  auto with_class = [&](const std::string& name) {
    auto request = MakeCreateVolumeReq(name);
    for (const auto& [key, value] : config_.test_volume_mutable_parameters) {
      (*request.mutable_mutable_parameters())[key] = value;
    }
    return request;
  };
  It("should fail if no volume id is given",
     [&] { EXPECT_CODE(modify(MakeModifyVolumeReq("")), C::INVALID_ARGUMENT); });
  It("should fail if volume does not exist",
     [&] { EXPECT_CODE(modify(MakeModifyVolumeReq("non-existing-volume-id")), C::NOT_FOUND); });
  It("should fail if specified mutable parameters are not supported by the volume", [&] {
    auto vol = MustCreateVolume(MakeCreateVolumeReq(UniqueString("sanity-modify-volume")));
    EXPECT_CODE(modify(fake(vol.volume().volume_id())), C::INVALID_ARGUMENT);
  });
  It("should modify a volume created without a volume attribute class", [&] {
    auto vol = MustCreateVolume(MakeCreateVolumeReq(UniqueString("sanity-modify-volume")));
    EXPECT_CODE(modify(MakeModifyVolumeReq(vol.volume().volume_id())), C::OK);
  });
  It("should modify a volume created with a volume attribute class", [&] {
    auto vol = MustCreateVolume(with_class(UniqueString("sanity-modify-volume")));
    EXPECT_CODE(modify(MakeModifyVolumeReq(vol.volume().volume_id())), C::OK);
  });
  It("should fail to modify a volume created with a volume attribute class if new mutable "
     "parameters are not supported by volume",
     [&] {
       auto vol = MustCreateVolume(with_class(UniqueString("sanity-modify-volume")));
       EXPECT_CODE(modify(fake(vol.volume().volume_id())), C::INVALID_ARGUMENT);
     });
}

// Without -csi.testvolumemutableparameters csi-sanity sends ModifyVolume
// with no mutable parameters; that case must pass too.
TEST_F(SanitySnapshots, ModifyVolumeWithoutMutableParameters) {
  config_.test_volume_mutable_parameters.clear();
  It("ModifyVolume should modify a volume created without a volume attribute class", [&] {
    auto vol = MustCreateVolume(MakeCreateVolumeReq(UniqueString("sanity-modify-volume")));
    EXPECT_CODE(Call(&pb::Controller::Stub::ControllerModifyVolume, controller(),
                     MakeModifyVolumeReq(vol.volume().volume_id())),
                C::OK);
  });
}

}  // namespace
}  // namespace ditto::reliability::sanity
