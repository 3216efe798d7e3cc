// CreateVolume's plan, decided from the request and the source's facts
// alone: no pool, no host.
#include "csi/create_volume_plan.h"

#include <gtest/gtest.h>

#include "common/ids.h"
#include "csi/driver.h"

namespace ditto::csi {
namespace {

using Mode = pb::VolumeCapability::AccessMode;
constexpr uint64_t kGiB = uint64_t{1} << 30;

pb::CreateVolumeRequest MountRequest(const std::string& fs = "") {
  pb::CreateVolumeRequest request;
  request.set_name("pvc-1");
  auto* capability = request.add_volume_capabilities();
  capability->mutable_mount()->set_fs_type(fs);
  capability->mutable_access_mode()->set_mode(Mode::SINGLE_NODE_WRITER);
  return request;
}

pb::CreateVolumeRequest CloneRequest(const std::string& source_id, const std::string& fs = "") {
  pb::CreateVolumeRequest request = MountRequest(fs);
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source_id);
  return request;
}

TEST(CreateVolumePlanTest, NewVolumeGetsTheDefaultFilesystemAndSize) {
  pb::CreateVolumeRequest request = MountRequest();
  auto plan = ParseCreateVolumeRequest(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->mode_hint, kModeMount);
  EXPECT_EQ(plan->source_kind, pool::SourceKind::kNone);
  ASSERT_TRUE(CompleteCreateVolumePlan(request, {}, "node-a", *plan).ok());
  EXPECT_EQ(plan->fs_type, kDefaultFsType);
  EXPECT_EQ(plan->capacity_bytes, kGiB);
  EXPECT_TRUE(plan->SharedLocks().empty());
  pool::CreateVolumeSpec spec = plan->Spec();
  EXPECT_EQ(spec.name, "pvc-1");
  EXPECT_EQ(spec.capacity_bytes, kGiB);
}

TEST(CreateVolumePlanTest, CloneTakesTheSourcesSizeAndFilesystem) {
  std::string source = NewVolumeId();
  pb::CreateVolumeRequest request = CloneRequest(source);
  auto plan = ParseCreateVolumeRequest(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->source_kind, pool::SourceKind::kVolume);
  EXPECT_EQ(plan->SourceKindName(), "volume");
  SourceFacts facts{.bytes = 2 * kGiB, .mode = kModeMount, .fs_type = "xfs"};
  ASSERT_TRUE(CompleteCreateVolumePlan(request, facts, "node-a", *plan).ok());
  EXPECT_EQ(plan->fs_type, "xfs");
  EXPECT_EQ(plan->capacity_bytes, 2 * kGiB);
  EXPECT_EQ(plan->SharedLocks(), std::vector<std::string>{"vol:" + source});
}

TEST(CreateVolumePlanTest, CloneMustKeepTheSourcesFilesystemAndAccessType) {
  pb::CreateVolumeRequest request = CloneRequest(NewVolumeId(), "ext4");
  auto plan = ParseCreateVolumeRequest(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CreateVolumePlan other_fs = *plan;
  SourceFacts xfs{.bytes = kGiB, .mode = kModeMount, .fs_type = "xfs"};
  EXPECT_TRUE(absl::IsInvalidArgument(CompleteCreateVolumePlan(request, xfs, "node-a", other_fs)));
  SourceFacts block{.bytes = kGiB, .mode = kModeBlock, .fs_type = ""};
  EXPECT_TRUE(absl::IsInvalidArgument(CompleteCreateVolumePlan(request, block, "node-a", *plan)));
}

TEST(CreateVolumePlanTest, RequestShapeIsCheckedBeforeAnySource) {
  EXPECT_TRUE(absl::IsNotFound(
      ParseCreateVolumeRequest(CloneRequest("vol-not-made-here")).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCreateVolumeRequest(CloneRequest("")).status()));
  pb::CreateVolumeRequest two_fs = MountRequest("ext4");
  (*two_fs.mutable_parameters())[kParamFsType] = "xfs";
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCreateVolumeRequest(two_fs).status()));
  pb::CreateVolumeRequest multi_node = MountRequest();
  multi_node.mutable_volume_capabilities(0)->mutable_access_mode()->set_mode(
      Mode::MULTI_NODE_MULTI_WRITER);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCreateVolumeRequest(multi_node).status()));
}

TEST(CreateVolumePlanTest, TopologyMustAllowThisNode) {
  pb::CreateVolumeRequest request = MountRequest();
  auto* segments = request.mutable_accessibility_requirements()->add_requisite()->mutable_segments();
  (*segments)[kTopologyKey] = "node-b";
  auto plan = ParseCreateVolumeRequest(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CreateVolumePlan elsewhere = *plan;
  EXPECT_TRUE(absl::IsResourceExhausted(CompleteCreateVolumePlan(request, {}, "node-a", elsewhere)));
  EXPECT_TRUE(CompleteCreateVolumePlan(request, {}, "node-b", *plan).ok());
}

TEST(CreateVolumePlanTest, RepeatedRequestMustMatchTheExistingVolume) {
  pb::CreateVolumeRequest request = MountRequest();
  auto plan = ParseCreateVolumeRequest(request);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(CompleteCreateVolumePlan(request, {}, "node-a", *plan).ok());
  catalog::VolumeRecord existing;
  existing.capacity_bytes = static_cast<int64_t>(kGiB);
  existing.mode_hint = kModeMount;
  existing.fs_type = kDefaultFsType;
  EXPECT_EQ(IncompatibilityWith(*plan, existing), "");
  existing.capacity_bytes = static_cast<int64_t>(2 * kGiB);
  EXPECT_NE(IncompatibilityWith(*plan, existing).find("capacity"), std::string::npos);
  existing.capacity_bytes = static_cast<int64_t>(kGiB);
  existing.mode_hint = kModeBlock;
  EXPECT_NE(IncompatibilityWith(*plan, existing).find("block"), std::string::npos);
}

}  // namespace
}  // namespace ditto::csi
