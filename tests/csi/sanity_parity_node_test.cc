// csi-sanity's identity, node and group controller cases
// (pkg/sanity/identity.go, node.go, groupcontroller.go) over a real dittod,
// one TEST per Describe, one It() per csi-sanity It, in its order.
#include <sys/stat.h>

#include <regex>
#include <set>

#include "csi/sanity_parity.h"

namespace ditto::reliability::sanity {
namespace {

using NodeRpc = pb::NodeServiceCapability::RPC;
using Service = pb::PluginCapability::Service;

class SanityNode : public SanityTest {
 protected:
  // The node.go helpers: createVolume, nodeStageVolume, nodePublishVolume
  // (ditto has no controller publish step).
  pb::CreateVolumeResponse CreateSized(const std::string& name,
                                       const pb::TopologyRequirement* topology = nullptr) {
    pb::CreateVolumeRequest request;
    request.set_name(name);
    *request.add_volume_capabilities() = TestVolumeCapability();
    request.mutable_capacity_range()->set_required_bytes(config_.test_volume_size);
    if (topology != nullptr) *request.mutable_accessibility_requirements() = *topology;
    return MustCreateVolume(request);
  }
  void Stage(const pb::CreateVolumeResponse& vol) {
    pb::NodeStageVolumeRequest request;
    request.set_volume_id(vol.volume().volume_id());
    *request.mutable_volume_capability() = TestVolumeCapability();
    request.set_staging_target_path(staging_dir_);
    *request.mutable_volume_context() = vol.volume().volume_context();
    EXPECT_CODE(Call(&pb::Node::Stub::NodeStageVolume, node(), request), C::OK);
  }
  void Publish(const pb::CreateVolumeResponse& vol) {
    pb::NodePublishVolumeRequest request;
    request.set_volume_id(vol.volume().volume_id());
    request.set_target_path(Target());
    request.set_staging_target_path(staging_dir_);
    *request.mutable_volume_capability() = TestVolumeCapability();
    *request.mutable_volume_context() = vol.volume().volume_context();
    EXPECT_CODE(Call(&pb::Node::Stub::NodePublishVolume, node(), request), C::OK);
  }
  // runControllerTest with `count` repeats of stage and publish.
  void RunControllerTest(int count) {
    auto info = NodeInfo();
    auto topology = RequisiteOf(info);
    auto vol = CreateSized(UniqueString("sanity-node-full-" + std::to_string(count)), &topology);
    for (int i = 0; i < count; ++i) Stage(vol);
    for (int i = 0; i < count; ++i) Publish(vol);
    pb::NodeGetVolumeStatsRequest stats;
    stats.set_volume_id(vol.volume().volume_id());
    stats.set_volume_path(Target());
    pb::NodeGetVolumeStatsResponse response;
    ASSERT_CODE_OK(Call(&pb::Node::Stub::NodeGetVolumeStats, node(), stats, &response));
    EXPECT_GT(response.usage_size(), 0);
  }
  pb::NodeStageVolumeRequest MockStage() const {
    pb::NodeStageVolumeRequest request;
    (*request.mutable_publish_context())["device"] = "/dev/mock";
    return request;
  }
};

TEST_F(SanityNode, IdentityService) {
  It("GetPluginCapabilities should return appropriate capabilities", [&] {
    pb::GetPluginCapabilitiesResponse res;
    ASSERT_CODE_OK(Call(&pb::Identity::Stub::GetPluginCapabilities, identity(),
                        pb::GetPluginCapabilitiesRequest(), &res));
    // csi-sanity knows CONTROLLER_SERVICE, VOLUME_ACCESSIBILITY_CONSTRAINTS
    // and GROUP_CONTROLLER_SERVICE; SNAPSHOT_METADATA_SERVICE (spec v1.10)
    // is the one it may not know.
    const std::set<int> known = {Service::CONTROLLER_SERVICE,
                                 Service::VOLUME_ACCESSIBILITY_CONSTRAINTS,
                                 Service::GROUP_CONTROLLER_SERVICE,
                                 Service::SNAPSHOT_METADATA_SERVICE};
    for (const auto& cap : res.capabilities()) {
      if (cap.has_service()) {
        EXPECT_TRUE(known.count(cap.service().type())) << cap.service().type();
      } else {
        ASSERT_TRUE(cap.has_volume_expansion());
        auto type = cap.volume_expansion().type();
        EXPECT_TRUE(type == pb::PluginCapability::VolumeExpansion::ONLINE ||
                    type == pb::PluginCapability::VolumeExpansion::OFFLINE);
      }
    }
  });
  It("Probe should return appropriate information", [&] {
    pb::ProbeResponse res;
    EXPECT_CODE(Call(&pb::Identity::Stub::Probe, identity(), pb::ProbeRequest(), &res), C::OK);
  });
  It("GetPluginInfo should return appropriate information", [&] {
    pb::GetPluginInfoResponse res;
    ASSERT_CODE_OK(
        Call(&pb::Identity::Stub::GetPluginInfo, identity(), pb::GetPluginInfoRequest(), &res));
    EXPECT_FALSE(res.name().empty());
    EXPECT_LE(res.name().size(), 63u);
    EXPECT_TRUE(std::regex_match(res.name(), std::regex(R"(^[a-zA-Z][A-Za-z0-9-\\.\\_]{0,61}[a-zA-Z]$)")))
        << res.name();
  });
}

TEST_F(SanityNode, NodeService) {
  It("NodeGetCapabilities should return appropriate capabilities", [&] {
    pb::NodeGetCapabilitiesResponse caps;
    ASSERT_CODE_OK(Call(&pb::Node::Stub::NodeGetCapabilities, node(),
                        pb::NodeGetCapabilitiesRequest(), &caps));
    const std::set<int> known = {NodeRpc::UNKNOWN,          NodeRpc::STAGE_UNSTAGE_VOLUME,
                                 NodeRpc::GET_VOLUME_STATS, NodeRpc::EXPAND_VOLUME,
                                 NodeRpc::VOLUME_CONDITION, NodeRpc::SINGLE_NODE_MULTI_WRITER,
                                 NodeRpc::VOLUME_MOUNT_GROUP};
    for (const auto& cap : caps.capabilities()) {
      EXPECT_TRUE(known.count(cap.rpc().type())) << NodeRpc::Type_Name(cap.rpc().type());
    }
  });
  It("NodeGetInfo should return appropriate values", [&] {
    auto info = NodeInfo();
    EXPECT_GE(info.max_volumes_per_node(), 0);
    // The plugin has VOLUME_ACCESSIBILITY_CONSTRAINTS.
    EXPECT_TRUE(info.has_accessible_topology());
  });

  It("NodePublishVolume should fail when no volume id is provided", [&] {
    EXPECT_CODE(Call(&pb::Node::Stub::NodePublishVolume, node(), pb::NodePublishVolumeRequest()),
                C::INVALID_ARGUMENT);
  });
  It("NodePublishVolume should fail when no target path is provided", [&] {
    pb::NodePublishVolumeRequest request;
    request.set_volume_id(UniqueString("fake-vol-id"));
    EXPECT_CODE(Call(&pb::Node::Stub::NodePublishVolume, node(), request), C::INVALID_ARGUMENT);
  });
  It("NodePublishVolume should fail when no volume capability is provided", [&] {
    pb::NodePublishVolumeRequest request;
    request.set_volume_id(UniqueString("fake-vol-id"));
    request.set_target_path(Target());
    EXPECT_CODE(Call(&pb::Node::Stub::NodePublishVolume, node(), request), C::INVALID_ARGUMENT);
  });

  It("NodeUnpublishVolume should fail when no volume id is provided", [&] {
    EXPECT_CODE(
        Call(&pb::Node::Stub::NodeUnpublishVolume, node(), pb::NodeUnpublishVolumeRequest()),
        C::INVALID_ARGUMENT);
  });
  It("NodeUnpublishVolume should fail when no target path is provided", [&] {
    pb::NodeUnpublishVolumeRequest request;
    request.set_volume_id(UniqueString("fake-vol-id"));
    EXPECT_CODE(Call(&pb::Node::Stub::NodeUnpublishVolume, node(), request), C::INVALID_ARGUMENT);
  });
  // Older csi-sanity releases (v2, v3): a volume the plugin does not know.
  It("NodeUnpublishVolume should fail when the volume is missing", [&] {
    pb::NodeUnpublishVolumeRequest request;
    request.set_volume_id(UniqueString("fake-vol-id"));
    request.set_target_path(Target());
    EXPECT_CODE(Call(&pb::Node::Stub::NodeUnpublishVolume, node(), request), C::NOT_FOUND);
  });
  It("NodeUnpublishVolume should remove target path", [&] {
    auto vol = CreateSized(UniqueString("sanity-node-unpublish-volume"));
    NodeInfo();
    Stage(vol);
    Publish(vol);
    struct stat info {};
    ASSERT_EQ(::stat(Target().c_str(), &info), 0) << "the driver creates the target path";
    pb::NodeUnpublishVolumeRequest request;
    request.set_volume_id(vol.volume().volume_id());
    request.set_target_path(Target());
    EXPECT_CODE(Call(&pb::Node::Stub::NodeUnpublishVolume, node(), request), C::OK);
    EXPECT_NE(::stat(Target().c_str(), &info), 0) << "the target path must be gone";
  });

  ASSERT_TRUE(NodeSupports(NodeRpc::STAGE_UNSTAGE_VOLUME));
  It("NodeStageVolume should fail when no volume id is provided", [&] {
    auto request = MockStage();
    request.set_staging_target_path(staging_dir_);
    *request.mutable_volume_capability() = TestVolumeCapability();
    EXPECT_CODE(Call(&pb::Node::Stub::NodeStageVolume, node(), request), C::INVALID_ARGUMENT);
  });
  It("NodeStageVolume should fail when no staging target path is provided", [&] {
    auto request = MockStage();
    request.set_volume_id(UniqueString("fake-vol-id"));
    *request.mutable_volume_capability() = TestVolumeCapability();
    EXPECT_CODE(Call(&pb::Node::Stub::NodeStageVolume, node(), request), C::INVALID_ARGUMENT);
  });
  It("NodeStageVolume should fail when no volume capability is provided", [&] {
    pb::CreateVolumeRequest create;
    create.set_name(UniqueString("sanity-node-stage-nocaps"));
    *create.add_volume_capabilities() = TestVolumeCapability();
    auto vol = MustCreateVolume(create);
    auto request = MockStage();
    request.set_volume_id(vol.volume().volume_id());
    request.set_staging_target_path(staging_dir_);
    EXPECT_CODE(Call(&pb::Node::Stub::NodeStageVolume, node(), request), C::INVALID_ARGUMENT);
  });

  It("NodeUnstageVolume should fail when no volume id is provided", [&] {
    pb::NodeUnstageVolumeRequest request;
    request.set_staging_target_path(staging_dir_);
    EXPECT_CODE(Call(&pb::Node::Stub::NodeUnstageVolume, node(), request), C::INVALID_ARGUMENT);
  });
  It("NodeUnstageVolume should fail when no staging target path is provided", [&] {
    pb::NodeUnstageVolumeRequest request;
    request.set_volume_id(UniqueString("fake-vol-id"));
    EXPECT_CODE(Call(&pb::Node::Stub::NodeUnstageVolume, node(), request), C::INVALID_ARGUMENT);
  });

  ASSERT_TRUE(NodeSupports(NodeRpc::GET_VOLUME_STATS));
  auto stats = [&](const std::string& volume_id, const std::string& path) {
    pb::NodeGetVolumeStatsRequest request;
    request.set_volume_id(volume_id);
    request.set_volume_path(path);
    return Call(&pb::Node::Stub::NodeGetVolumeStats, node(), request);
  };
  It("NodeGetVolumeStats should fail when no volume id is provided",
     [&] { EXPECT_CODE(stats("", "some/path"), C::INVALID_ARGUMENT); });
  It("NodeGetVolumeStats should fail when no volume path is provided",
     [&] { EXPECT_CODE(stats(UniqueString("fake-vol-id"), ""), C::INVALID_ARGUMENT); });
  It("NodeGetVolumeStats should fail when volume is not found",
     [&] { EXPECT_CODE(stats(UniqueString("fake-vol-id"), "some/path"), C::NOT_FOUND); });
  It("NodeGetVolumeStats should fail when volume does not exist on the specified path", [&] {
    auto vol = CreateSized(UniqueString("sanity-node-get-volume-stats"));
    NodeInfo();
    Stage(vol);
    Publish(vol);
    EXPECT_CODE(stats(vol.volume().volume_id(), "some/path"), C::NOT_FOUND);
  });

  ASSERT_TRUE(NodeSupports(NodeRpc::EXPAND_VOLUME));
  It("NodeExpandVolume should fail when no volume id is provided", [&] {
    pb::NodeExpandVolumeRequest request;
    request.set_volume_path(mount_dir_);
    *request.mutable_volume_capability() = TestVolumeCapability();
    EXPECT_CODE(Call(&pb::Node::Stub::NodeExpandVolume, node(), request), C::INVALID_ARGUMENT);
  });
  It("NodeExpandVolume should fail when no volume path is provided", [&] {
    auto vol = CreateSized(UniqueString("sanity-node-expand-volume-valid-id"));
    pb::NodeExpandVolumeRequest request;
    request.set_volume_id(vol.volume().volume_id());
    *request.mutable_volume_capability() = TestVolumeCapability();
    EXPECT_CODE(Call(&pb::Node::Stub::NodeExpandVolume, node(), request), C::INVALID_ARGUMENT);
  });
  It("NodeExpandVolume should fail when volume is not found", [&] {
    pb::NodeExpandVolumeRequest request;
    request.set_volume_id(UniqueString("fake-vol-id"));
    request.set_volume_path("some/path");
    EXPECT_CODE(Call(&pb::Node::Stub::NodeExpandVolume, node(), request), C::NOT_FOUND);
  });
  It("NodeExpandVolume should work if node-expand is called after node-publish", [&] {
    auto vol = CreateSized(UniqueString("sanity-node-expand-volume"));
    pb::ControllerExpandVolumeRequest expand;  // no volume_capability here
    expand.set_volume_id(vol.volume().volume_id());
    expand.mutable_capacity_range()->set_required_bytes(config_.test_volume_expand_size);
    pb::ControllerExpandVolumeResponse expanded;
    ASSERT_CODE_OK(Call(&pb::Controller::Stub::ControllerExpandVolume, controller(), expand,
                        &expanded));
    EXPECT_EQ(expanded.capacity_bytes(), config_.test_volume_expand_size);
    NodeInfo();
    Stage(vol);
    Publish(vol);
    pb::NodeExpandVolumeRequest request;
    request.set_volume_id(vol.volume().volume_id());
    request.set_volume_path(Target());
    request.mutable_capacity_range()->set_required_bytes(config_.test_volume_expand_size);
    EXPECT_CODE(Call(&pb::Node::Stub::NodeExpandVolume, node(), request), C::OK);
  });

  It("should work", [&] { RunControllerTest(1); });
  It("should be idempotent", [&] { RunControllerTest(config_.idempotent_count); });
}

TEST_F(SanityNode, GroupControllerService) {
  It("GroupControllerGetCapabilities should return appropriate capabilities", [&] {
    pb::GroupControllerGetCapabilitiesResponse caps;
    ASSERT_CODE_OK(Call(&pb::GroupController::Stub::GroupControllerGetCapabilities, groups(),
                        pb::GroupControllerGetCapabilitiesRequest(), &caps));
    for (const auto& cap : caps.capabilities()) {
      EXPECT_EQ(cap.rpc().type(),
                pb::GroupControllerServiceCapability::RPC::CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT);
    }
  });
  It("CreateVolumeGroupSnapshot should fail when no name is provided", [&] {
    EXPECT_CODE(Call(&pb::GroupController::Stub::CreateVolumeGroupSnapshot, groups(),
                     pb::CreateVolumeGroupSnapshotRequest()),
                C::INVALID_ARGUMENT);
  });
  It("GetVolumeGroupSnapshot should fail when no volume id is provided", [&] {
    EXPECT_CODE(Call(&pb::GroupController::Stub::GetVolumeGroupSnapshot, groups(),
                     pb::GetVolumeGroupSnapshotRequest()),
                C::INVALID_ARGUMENT);
  });
  It("GetVolumeGroupSnapshot should fail when an invalid volume id is used", [&] {
    pb::GetVolumeGroupSnapshotRequest request;
    request.set_group_snapshot_id("fake-vol-id");
    EXPECT_CODE(Call(&pb::GroupController::Stub::GetVolumeGroupSnapshot, groups(), request),
                C::NOT_FOUND);
  });
  It("DeleteVolumeGroupSnapshot should fail when no volume id is provided", [&] {
    EXPECT_CODE(Call(&pb::GroupController::Stub::DeleteVolumeGroupSnapshot, groups(),
                     pb::DeleteVolumeGroupSnapshotRequest()),
                C::INVALID_ARGUMENT);
  });
  It("DeleteVolumeGroupSnapshot should succeed when an invalid volume id is used", [&] {
    pb::DeleteVolumeGroupSnapshotRequest request;
    request.set_group_snapshot_id("fake-vol-id");
    EXPECT_CODE(Call(&pb::GroupController::Stub::DeleteVolumeGroupSnapshot, groups(), request),
                C::OK);
  });
}

}  // namespace
}  // namespace ditto::reliability::sanity
