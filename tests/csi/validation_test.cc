#include "csi/validation.h"

#include <gtest/gtest.h>

#include "common/ids.h"
#include "csi/driver.h"

namespace ditto::csi {
namespace {

using Mode = pb::VolumeCapability::AccessMode;

pb::VolumeCapability MountCapability(std::string fs = "", std::vector<std::string> flags = {},
                                     Mode::Mode mode = Mode::SINGLE_NODE_WRITER) {
  pb::VolumeCapability capability;
  capability.mutable_mount()->set_fs_type(fs);
  for (auto& flag : flags) capability.mutable_mount()->add_mount_flags(flag);
  capability.mutable_access_mode()->set_mode(mode);
  return capability;
}

pb::CapacityRange Range(int64_t required, int64_t limit) {
  pb::CapacityRange range;
  range.set_required_bytes(required);
  range.set_limit_bytes(limit);
  return range;
}

TEST(ValidationTest, CapabilityNeedsAccessTypeAndMode) {
  pb::VolumeCapability capability;
  capability.mutable_access_mode()->set_mode(Mode::SINGLE_NODE_WRITER);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCapability(capability, "cap").status()));
  capability.mutable_block();
  auto parsed = ParseCapability(capability, "cap");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->block);
  capability.clear_access_mode();
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCapability(capability, "cap").status()));
}

TEST(ValidationTest, CapabilityChecksFsTypeFlagsAndMountGroup) {
  EXPECT_TRUE(ParseCapability(MountCapability("xfs", {"noatime"}), "c").ok());
  EXPECT_TRUE(ParseCapability(MountCapability(""), "c").ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCapability(MountCapability("btrfs"), "c").status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(ParseCapability(MountCapability("ext4", {"bogus"}), "c").status()));
  auto capability = MountCapability("ext4");
  capability.mutable_mount()->set_volume_mount_group("1000");
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCapability(capability, "c").status()));
  google::protobuf::RepeatedPtrField<pb::VolumeCapability> none;
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCapabilities(none, "caps").status()));
}

TEST(ValidationTest, AccessModes) {
  EXPECT_TRUE(IsSupportedAccessMode(Mode::SINGLE_NODE_WRITER));
  EXPECT_TRUE(IsSupportedAccessMode(Mode::SINGLE_NODE_MULTI_WRITER));
  EXPECT_FALSE(IsSupportedAccessMode(Mode::MULTI_NODE_MULTI_WRITER));
  EXPECT_FALSE(IsSupportedAccessMode(Mode::MULTI_NODE_READER_ONLY));
  EXPECT_TRUE(AllowsSeveralPublishTargets(Mode::SINGLE_NODE_MULTI_WRITER));
  EXPECT_FALSE(AllowsSeveralPublishTargets(Mode::SINGLE_NODE_WRITER));
  EXPECT_FALSE(AllowsSeveralPublishTargets(Mode::SINGLE_NODE_SINGLE_WRITER));
  EXPECT_TRUE(IsReadOnlyMode(Mode::SINGLE_NODE_READER_ONLY));
}

TEST(ValidationTest, MountFlagsAllowlist) {
  EXPECT_TRUE(
      ValidateMountFlags({"ro", "noatime", "nodev", "commit=30", "errors=remount-ro"}).ok());
  EXPECT_TRUE(ValidateMountFlags({}).ok());
  for (std::string bad :
       {"noatime,nodev", "a b", "$(reboot)", "x;y", "", "commit=abc", "errors=whatever", "errors=panic",
        "context=system_u", "uid=0", "`id`", "data=\"x\"", "../..", "loop"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ValidateMountFlags({bad}))) << bad;
  }
  // Secrets in values are never echoed.
  Status status = ValidateMountFlags({"password=hunter2"});
  EXPECT_EQ(std::string(status.message()).find("hunter2"), std::string::npos) << status;
}

TEST(ValidationTest, SplitMountFlags) {
  MountFlags split = SplitMountFlags({"ro", "noatime", "discard", "commit=30", "nodev"});
  EXPECT_TRUE(split.read_only);
  EXPECT_EQ(split.vfs, (std::vector<std::string>{"noatime", "nodev"}));
  EXPECT_EQ(split.data, "discard,commit=30");
  EXPECT_FALSE(SplitMountFlags({"ro", "rw"}).read_only);
}

TEST(ValidationTest, NodePaths) {
  EXPECT_TRUE(
      ValidateNodePath("/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/pv/mount", "target_path")
          .ok());
  for (std::string bad : {"", "relative/path", "/", "/a/../b", "/a/./b", "/a//b", "/a/b/",
                          "/proc/1/root", "/sys/kernel", "/dev/sda", "/dev", "/a/\nb"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ValidateNodePath(bad, "p"))) << bad;
  }
  EXPECT_TRUE(ValidateNodePath("/devices/x", "p").ok());  // only /dev itself is refused
  EXPECT_TRUE(ValidateNodePath("/tmp/..hidden", "p").ok());
}

TEST(ValidationTest, LookupPathsRelativeIsNotFound) {
  EXPECT_EQ(ValidateLookupPath("some/path", "volume_path").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(ValidateLookupPath("/var/lib/kubelet/pods/x", "volume_path").ok());
  EXPECT_EQ(ValidateLookupPath("", "volume_path").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateLookupPath("/a/../b", "volume_path").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateLookupPath("a\nb", "volume_path").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateLookupPath(std::string(5000, 'a'), "volume_path").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, CapacityWithoutSource) {
  EXPECT_EQ(*ResolveCapacity(nullptr, std::nullopt), kDefaultCapacityBytes);
  auto range = Range(1, 0);
  EXPECT_EQ(*ResolveCapacity(&range, std::nullopt), 4096u);
  range = Range(10 << 20, 10 << 20);
  EXPECT_EQ(*ResolveCapacity(&range, std::nullopt), 10u << 20);
  range = Range(0, 100 << 20);  // only a limit: the default, capped by it
  EXPECT_EQ(*ResolveCapacity(&range, std::nullopt), 100u << 20);
  range = Range(5000, 6000);  // rounding up to 8192 would exceed the limit
  EXPECT_TRUE(absl::IsOutOfRange(ResolveCapacity(&range, std::nullopt).status()));
  range = Range(2 << 20, 1 << 20);
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveCapacity(&range, std::nullopt).status()));
  range = Range(-1, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveCapacity(&range, std::nullopt).status()));
}

TEST(ValidationTest, CapacityWithSource) {
  const uint64_t source = 64 << 20;
  EXPECT_EQ(*ResolveCapacity(nullptr, source), source);
  auto range = Range(source, 0);
  EXPECT_EQ(*ResolveCapacity(&range, source), source);
  range = Range(128 << 20, 0);
  EXPECT_EQ(*ResolveCapacity(&range, source), 128u << 20);
  range = Range(32 << 20, 0);
  EXPECT_TRUE(absl::IsOutOfRange(ResolveCapacity(&range, source).status()));
  range = Range(0, 32 << 20);
  EXPECT_TRUE(absl::IsOutOfRange(ResolveCapacity(&range, source).status()));
}

TEST(ValidationTest, VolumeParameters) {
  ProtoMap parameters;
  parameters["thick"] = "true";
  parameters["fsType"] = "xfs";
  parameters["csi.storage.k8s.io/pvc/name"] = "data";
  auto parsed = ParseVolumeParameters(parameters);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->thick);
  EXPECT_EQ(parsed->fs_type, "xfs");
  EXPECT_EQ(parsed->all.size(), 3u);
  parameters["thick"] = "yes";
  EXPECT_TRUE(absl::IsInvalidArgument(ParseVolumeParameters(parameters).status()));
  ProtoMap unknown;
  unknown["replicas"] = "3";
  Status status = ParseVolumeParameters(unknown).status();
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_NE(std::string(status.message()).find("thick"), std::string::npos) << status;
  EXPECT_TRUE(absl::IsInvalidArgument(ParseSnapshotParameters(unknown).status()));
}

TEST(ValidationTest, ConsistencyOfVolumesAndSnapshots) {
  ProtoMap parameters;
  EXPECT_FALSE(ParseVolumeParameters(parameters)->crash_consistent);  // filesystem by default
  EXPECT_FALSE(ParseSnapshotParameters(parameters)->crash_consistent);
  parameters["consistency"] = "crash";
  EXPECT_TRUE(ParseVolumeParameters(parameters)->crash_consistent);
  EXPECT_TRUE(ParseSnapshotParameters(parameters)->crash_consistent);
  parameters["consistency"] = "filesystem";
  EXPECT_FALSE(ParseVolumeParameters(parameters)->crash_consistent);
  EXPECT_FALSE(ParseSnapshotParameters(parameters)->crash_consistent);
  parameters["consistency"] = "Crash";
  Status status = ParseSnapshotParameters(parameters).status();
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_NE(std::string(status.message()).find("\"filesystem\""), std::string::npos) << status;
  EXPECT_TRUE(absl::IsInvalidArgument(ParseVolumeParameters(parameters).status()));
  ProtoMap thick;
  thick["thick"] = "true";
  status = ParseSnapshotParameters(thick).status();
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_NE(std::string(status.message()).find("consistency"), std::string::npos) << status;
}

TEST(ValidationTest, MutableParameters) {
  ProtoMap parameters;
  EXPECT_FALSE(ParseMutableParameters(parameters)->thick.has_value());  // nothing to change
  parameters["provisioning"] = "thick";
  EXPECT_TRUE(*ParseMutableParameters(parameters)->thick);
  parameters["provisioning"] = "thin";
  EXPECT_FALSE(*ParseMutableParameters(parameters)->thick);
  parameters["provisioning"] = "Thick";
  EXPECT_TRUE(absl::IsInvalidArgument(ParseMutableParameters(parameters).status()));
  for (const char* key : {"thick", "fsType", "iops"}) {
    ProtoMap bad;
    bad[key] = "true";
    Status status = ParseMutableParameters(bad).status();
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << key;
    EXPECT_NE(std::string(status.message()).find("provisioning"), std::string::npos) << status;
  }
}

TEST(ValidationTest, Topology) {
  pb::TopologyRequirement requirement;
  EXPECT_TRUE(TopologyAllows(requirement, "n1"));
  (*requirement.add_preferred()->mutable_segments())[kTopologyKey] = "n2";
  EXPECT_TRUE(TopologyAllows(requirement, "n1"));  // preferences alone do not exclude
  (*requirement.add_requisite()->mutable_segments())[kTopologyKey] = "n2";
  EXPECT_FALSE(TopologyAllows(requirement, "n1"));
  (*requirement.add_requisite()->mutable_segments())[kTopologyKey] = "n1";
  EXPECT_TRUE(TopologyAllows(requirement, "n1"));
}

TEST(ValidationTest, PageTokens) {
  std::string id = NewVolumeId();
  std::string token = EncodePageToken({12345, id});
  auto decoded = DecodePageToken(token, &IsValidVolumeId);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->created_at_ns, 12345);
  EXPECT_EQ(decoded->id, id);
  EXPECT_TRUE(IsAfter(*decoded, 12346, "vol-0"));
  EXPECT_TRUE(IsAfter(*decoded, 12345, id + "0"));
  EXPECT_FALSE(IsAfter(*decoded, 12345, id));
  for (std::string bad :
       std::vector<std::string>{"", "garbage", "p1.", "p1.12.", "p1.x.vol-1", "p1.1." + id + "x",
                                "p1.99999999999999999999." + id, "10"}) {
    EXPECT_TRUE(absl::IsAborted(DecodePageToken(bad, &IsValidVolumeId).status())) << bad;
  }
  EXPECT_TRUE(absl::IsAborted(DecodePageToken(token, &IsValidSnapshotId).status()));
}

}  // namespace
}  // namespace ditto::csi
