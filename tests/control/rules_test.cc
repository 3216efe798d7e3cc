// The provisioning and cloning rules of the control plane, against a fake
// CSI driver: which requests reach the driver and what users see.
#include <gtest/gtest.h>

#include "control/kubelet/node.h"
#include "plane_fixture.h"

namespace ditto::control {
namespace {

class RulesTest : public PlaneTest {};

TEST_F(RulesTest, FirstUseCreatesTheDefaultClass) {
  Json storage_class = Get(kStorageClass, "ditto");
  EXPECT_EQ(GetString(storage_class, {"provisioner"}), "ditto.csi.dev");
  EXPECT_EQ(GetAnnotation(storage_class, kDefaultClassAnnotation), "true");
  EXPECT_TRUE(GetBool(storage_class, {"allowVolumeExpansion"}));
}

TEST_F(RulesTest, ProvisionsAndBindsWithExternalProvisionerNaming) {
  ASSERT_EQ(Apply(Claim("data", "5Gi")), "");
  Json claim = Get(kPersistentVolumeClaim, "data");
  EXPECT_EQ(GetString(claim, {"status", "phase"}), "Bound");
  std::string volume_name = "pvc-" + Uid(claim);
  EXPECT_EQ(GetString(claim, {"spec", "volumeName"}), volume_name);
  ASSERT_EQ(fake_.state().create_requests.size(), 1u);
  const auto& request = fake_.state().create_requests[0];
  EXPECT_EQ(request.name(), volume_name);
  EXPECT_EQ(request.capacity_range().required_bytes(), int64_t{5} << 30);
  EXPECT_EQ(request.parameters().at("csi.storage.k8s.io/pvc/name"), "data");
  EXPECT_EQ(request.volume_capabilities(0).mount().fs_type(), "ext4");
  Json volume = Get(kPersistentVolume, volume_name);
  EXPECT_EQ(GetString(volume, {"status", "phase"}), "Bound");
  EXPECT_EQ(GetString(volume, {"spec", "csi", "volumeHandle"}), "vol-1");
  EXPECT_EQ(GetString(volume, {"spec", "claimRef", "uid"}), Uid(claim));
  EXPECT_TRUE(HasFinalizer(claim, kPvcProtectionFinalizer));
}

TEST_F(RulesTest, CloneSendsTheSourceVolumeAndProtectsTheSource) {
  ASSERT_EQ(Apply(Claim("pvc-1", "5Gi")), "");
  ASSERT_EQ(Apply(Claim("clone-of-pvc-1", "5Gi", CloneOf("pvc-1"))), "");
  EXPECT_EQ(Phase("clone-of-pvc-1"), "Bound");
  const auto& request = fake_.state().create_requests.back();
  EXPECT_EQ(request.volume_content_source().volume().volume_id(), "vol-1");
  EXPECT_TRUE(HasFinalizer(Get(kPersistentVolumeClaim, "pvc-1"), kCloningProtectionFinalizer));
  // dataSourceRef mirrors dataSource, as the API server fills it in.
  EXPECT_EQ(
      GetString(Get(kPersistentVolumeClaim, "clone-of-pvc-1"), {"spec", "dataSourceRef", "name"}),
      "pvc-1");
}

TEST_F(RulesTest, EachViolatedRuleLeavesTheClonePendingWithAWarning) {
  ASSERT_EQ(Apply(Claim("src", "5Gi")), "");
  ASSERT_EQ(Apply(Claim("small", "1Gi", CloneOf("src"))), "");
  EXPECT_EQ(Phase("small"), "Pending");
  EXPECT_EQ(Warning("small"),
            "failed to provision volume with StorageClass \"ditto\": error getting handle for "
            "DataSource Type PersistentVolumeClaim by Name src: error, new PVC request must be "
            "greater than or equal in size to the specified PVC data source, requested 1Gi but "
            "source is 5Gi; set spec.resources.requests.storage to at least 5Gi");

  ASSERT_EQ(Apply(Claim("block", "5Gi", "  volumeMode: Block\n" + CloneOf("src"))), "");
  EXPECT_NE(Warning("block").find("Source is Filesystem, but new PVC requested Block; set "
                                  "spec.volumeMode: Filesystem"),
            std::string::npos);

  ASSERT_EQ(Apply(Claim("orphan", "5Gi", CloneOf("nope"))), "");
  EXPECT_NE(Warning("orphan").find("persistentvolumeclaims \"nope\" not found"), std::string::npos);

  // A source that is not Bound: its class belongs to another provisioner.
  ASSERT_EQ(Apply("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: "
                  "elsewhere\nprovisioner: other.example.com\n"),
            "");
  ASSERT_EQ(Apply(Claim("unbound", "1Gi", "", "elsewhere")), "");
  ASSERT_EQ(Apply(Claim("of-unbound", "1Gi", CloneOf("unbound"))), "");
  EXPECT_NE(Warning("of-unbound").find("must have a status of Bound.  Got Pending"),
            std::string::npos);

  // None of them reached the driver.
  EXPECT_EQ(fake_.state().create_requests.size(), 1u);
}

TEST_F(RulesTest, DriverWithoutCloneCapabilityRefusesClones) {
  ASSERT_EQ(Apply(Claim("src", "1Gi")), "");
  fake_.state().clone_capability = false;
  Open();  // capabilities are read once per client
  ASSERT_EQ(Apply(Claim("clone", "1Gi", CloneOf("src"))), "");
  EXPECT_EQ(Phase("clone"), "Pending");
  EXPECT_NE(Warning("clone").find("CSI driver does not support clone operations: controller "
                                  "CLONE_VOLUME capability is not reported"),
            std::string::npos)
      << Warning("clone");
}

TEST_F(RulesTest, CloningProtectionHoldsTheSourceUntilNoClonePends) {
  ASSERT_EQ(Apply(Claim("src", "1Gi")), "");
  fake_.state().fail_create = "no space";
  ASSERT_EQ(Apply(Claim("clone", "1Gi", CloneOf("src"))), "");
  EXPECT_EQ(Phase("clone"), "Pending");
  EXPECT_EQ(Warning("clone"),
            "failed to provision volume with StorageClass \"ditto\": CreateVolume: rpc error: "
            "code = InvalidArgument desc = no space");
  auto held = plane_->Delete(kPersistentVolumeClaim, "default", "src");
  ASSERT_TRUE(held.ok());
  EXPECT_NE(held->find("PVC default/clone is Pending"), std::string::npos) << *held;
  EXPECT_TRUE(IsBeingDeleted(Get(kPersistentVolumeClaim, "src")));
  ASSERT_TRUE(plane_->Delete(kPersistentVolumeClaim, "default", "clone").ok());
  EXPECT_TRUE(Get(kPersistentVolumeClaim, "src").is_null());
  // Reclaim policy Delete: the source's volume went through DeleteVolume.
  EXPECT_EQ(fake_.state().deleted_volumes, std::vector<std::string>{"vol-1"});
}

TEST_F(RulesTest, UnknownReservedParameterIsRefusedBeforeTheDriver) {
  ASSERT_EQ(Apply("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: odd\n"
                  "provisioner: ditto.csi.dev\nparameters:\n  csi.storage.k8s.io/nonsense: x\n"),
            "");
  ASSERT_EQ(Apply(Claim("c", "1Gi", "", "odd")), "");
  EXPECT_NE(Warning("c").find("found unknown parameter key \"csi.storage.k8s.io/nonsense\""),
            std::string::npos);
  EXPECT_TRUE(fake_.state().create_requests.empty());
}

TEST_F(RulesTest, ApplyIsAllOrNothingAndChecksNamespaces) {
  std::string error = Apply(Claim("good", "1Gi") + "---\n" + Claim("bad", "5Gx"));
  EXPECT_NE(error.find("test.yaml:21:16:"), std::string::npos) << error;
  EXPECT_TRUE(Get(kPersistentVolumeClaim, "good").is_null());
  error = Apply(Claim("x", "1Gi"), "nowhere");
  EXPECT_NE(error.find("namespaces \"nowhere\" not found"), std::string::npos) << error;
}

TEST_F(RulesTest, SpecIsImmutableButStorageCanGrow) {
  ASSERT_EQ(Apply(Claim("data", "1Gi")), "");
  EXPECT_NE(Apply(Claim("data", "1Gi", "  volumeMode: Block\n")).find("spec is immutable"),
            std::string::npos);
  EXPECT_NE(Apply(Claim("data", "512Mi")).find("can not be less than previous value"),
            std::string::npos);
  ASSERT_EQ(Apply(Claim("data", "2Gi")), "");
  Json claim = Get(kPersistentVolumeClaim, "data");
  EXPECT_EQ(GetString(Get(kPersistentVolume, GetString(claim, {"spec", "volumeName"})),
                      {"spec", "capacity", "storage"}),
            "2Gi");
  // Not mounted: the filesystem grows at the next stage.
  EXPECT_NE(claim["status"].dump().find("FileSystemResizePending"), std::string::npos);
}

TEST_F(RulesTest, MountStagesOncePublishesAndProtects) {
  ASSERT_EQ(Apply(Claim("data", "1Gi")), "");
  PublishRequest request{"default", "data", dir_.Join("mnt/a"), false, false};
  auto target = PublishClaim(plane_->context(), request);
  ASSERT_TRUE(target.ok()) << target.status();
  request.target_path = dir_.Join("mnt/b");
  ASSERT_TRUE(PublishClaim(plane_->context(), request).ok());
  EXPECT_EQ(fake_.state().calls,
            (std::vector<std::string>{"NodeStageVolume vol-1",
                                      "NodePublishVolume vol-1 " + dir_.Join("mnt/a"),
                                      "NodePublishVolume vol-1 " + dir_.Join("mnt/b")}));
  auto held = plane_->Delete(kPersistentVolumeClaim, "default", "data");
  ASSERT_TRUE(held.ok());
  EXPECT_NE(held->find("in use"), std::string::npos);
  ASSERT_TRUE(UnpublishTarget(plane_->context(), dir_.Join("mnt/a")).ok());
  EXPECT_FALSE(Get(kPersistentVolumeClaim, "data").is_null());
  ASSERT_TRUE(UnpublishTarget(plane_->context(), dir_.Join("mnt/b")).ok());
  EXPECT_TRUE(Get(kPersistentVolumeClaim, "data").is_null());
  EXPECT_EQ(fake_.state().calls.back(), "NodeUnstageVolume vol-1");
  EXPECT_TRUE(absl::IsNotFound(UnpublishTarget(plane_->context(), dir_.Join("mnt/b"))));
}

TEST_F(RulesTest, SnapshotAndRestore) {
  ASSERT_EQ(Apply(Claim("data", "1Gi")), "");
  ASSERT_EQ(Apply("apiVersion: snapshot.storage.k8s.io/v1\nkind: VolumeSnapshot\nmetadata:\n  "
                  "name: snap\nspec:\n  source:\n    persistentVolumeClaimName: data\n"),
            "");
  auto snapshot = GetObject(plane_->store(), kVolumeSnapshot, "default", "snap");
  ASSERT_TRUE(snapshot.ok() && snapshot->has_value());
  EXPECT_TRUE(GetBool(**snapshot, {"status", "readyToUse"}));
  EXPECT_EQ(GetString(**snapshot, {"status", "restoreSize"}), "1Gi");
  ASSERT_EQ(Apply(Claim("restored", "1Gi",
                        "  dataSource:\n    apiGroup: snapshot.storage.k8s.io\n    kind: "
                        "VolumeSnapshot\n    name: snap\n")),
            "");
  EXPECT_EQ(Phase("restored"), "Bound");
  EXPECT_EQ(fake_.state().create_requests.back().volume_content_source().snapshot().snapshot_id(),
            "snap-snapshot-" + Uid(**snapshot));
}

}  // namespace
}  // namespace ditto::control
