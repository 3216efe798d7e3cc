// dittoctl end to end, as a user runs it: YAML files in, printed output and
// exit codes checked, for the seed example and every provisioning and
// cloning rule, once with the driver in-process and once against a dittod
// this test starts (and stops, by PID).
#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include "e2e/dittoctl_fixture.h"

namespace ditto::e2e {

TEST_P(DittoctlTest, SeedExampleClonesAndStaysIndependent) {
  CreateClass();
  ASSERT_EQ(Apply("pvc-1", Pvc("pvc-1", "1Gi")).code, 0);
  Result mounted = Ctl({"mount", "pvc/pvc-1", Mnt("a"), "-n", ns_});
  ASSERT_EQ(mounted.code, 0) << mounted.err;
  WriteFile(Mnt("a") + "/greeting.txt", "hello from pvc-1\n");
  sync();
  // The seed's clone, as the docs write it (only namespace and class differ).
  Result cloned =
      Apply("clone", Pvc("clone-of-pvc-1", "1Gi",
                         "  dataSource:\n    kind: PersistentVolumeClaim\n    name: pvc-1\n"));
  ASSERT_EQ(cloned.code, 0) << cloned.err;
  EXPECT_EQ(cloned.out, "persistentvolumeclaim/clone-of-pvc-1 created\n");
  Result listed = Ctl({"get", "pvc", "-n", ns_});
  EXPECT_NE(listed.out.find("NAME             STATUS   VOLUME"), std::string::npos) << listed.out;
  EXPECT_EQ(Phase("pvc-1"), "Bound");
  EXPECT_EQ(Phase("clone-of-pvc-1"), "Bound");
  ASSERT_EQ(Ctl({"mount", "pvc/clone-of-pvc-1", Mnt("b"), "-n", ns_}).code, 0);
  EXPECT_EQ(ReadAll(Mnt("b") + "/greeting.txt"), "hello from pvc-1\n");

  WriteFile(Mnt("a") + "/greeting.txt", "changed\n");
  sync();
  EXPECT_EQ(ReadAll(Mnt("b") + "/greeting.txt"), "hello from pvc-1\n");
  // Deleting a mounted claim: Terminating (pvc-protection) until unmounted.
  Result deleted = Ctl({"delete", "pvc", "pvc-1", "-n", ns_});
  EXPECT_EQ(deleted.code, 0);
  EXPECT_EQ(deleted.out, "persistentvolumeclaim \"pvc-1\" deleted\n");
  EXPECT_NE(deleted.err.find("in use: mounted at " + Mnt("a")), std::string::npos) << deleted.err;
  EXPECT_EQ(Phase("pvc-1"), "Terminating");
  ASSERT_EQ(Ctl({"unmount", Mnt("a")}).code, 0);
  Result gone = Ctl({"get", "pvc", "pvc-1", "-n", ns_});
  EXPECT_EQ(gone.code, 1);
  EXPECT_EQ(gone.err, "Error from server (NotFound): persistentvolumeclaims \"pvc-1\" not found\n");
  EXPECT_EQ(ReadAll(Mnt("b") + "/greeting.txt"), "hello from pvc-1\n");
  EXPECT_EQ(Phase("clone-of-pvc-1"), "Bound");
}

TEST_P(DittoctlTest, CloneOfMissingSourceStaysPendingUntilItExists) {
  CreateClass();
  ASSERT_EQ(Apply("clone", Pvc("clone", "1Gi",
                               "  dataSource:\n    kind: PersistentVolumeClaim\n    name: src\n"))
                .code,
            0);
  EXPECT_EQ(Phase("clone"), "Pending");
  EXPECT_NE(Describe("clone").find("persistentvolumeclaims \"src\" not found"), std::string::npos)
      << Describe("clone");
  ASSERT_EQ(Apply("src", Pvc("src", "1Gi")).code, 0);
  // Retried on the next dittoctl run: now Bound.
  EXPECT_EQ(Phase("clone"), "Bound");
}

TEST_P(DittoctlTest, CloneWaitsForSourceToBeBound) {
  CreateClass("volumeBindingMode: WaitForFirstConsumer\n", "late-NS");
  ASSERT_EQ(Apply("src", Pvc("src", "1Gi", "", "late-NS")).code, 0);
  EXPECT_EQ(Phase("src"), "Pending");
  EXPECT_NE(Describe("src").find("WaitForFirstConsumer"), std::string::npos);
  // The clone's class binds immediately: the rules are checked now.
  ASSERT_EQ(Apply("clone",
                  Pvc("clone", "1Gi",
                      "  dataSource:\n    kind: PersistentVolumeClaim\n    name: src\n", "ditto"))
                .code,
            0);
  EXPECT_EQ(Phase("clone"), "Pending");
  EXPECT_NE(Describe("clone").find("must have a status of Bound.  Got Pending"), std::string::npos)
      << Describe("clone");
  // The first consumer binds the source; the clone is retried and follows.
  Result mounted = Ctl({"mount", "pvc/src", Mnt("a"), "-n", ns_});
  ASSERT_EQ(mounted.code, 0) << mounted.err;
  EXPECT_EQ(Phase("src"), "Bound");
  EXPECT_EQ(Phase("clone"), "Bound");
}

TEST_P(DittoctlTest, CloneSmallerThanSourceIsRefused) {
  CreateClass();
  ASSERT_EQ(Apply("src", Pvc("src", "2Gi")).code, 0);
  ASSERT_EQ(Apply("clone", Pvc("clone", "1Gi",
                               "  dataSource:\n    kind: PersistentVolumeClaim\n    name: src\n"))
                .code,
            0);
  EXPECT_EQ(Phase("clone"), "Pending");
  std::string text = Describe("clone");
  EXPECT_NE(text.find("ProvisioningFailed"), std::string::npos) << text;
  EXPECT_NE(text.find("requested 1Gi but source is 2Gi; set spec.resources.requests.storage to at "
                      "least 2Gi"),
            std::string::npos)
      << text;
}

TEST_P(DittoctlTest, CloneNeedsTheSameVolumeMode) {
  CreateClass();
  ASSERT_EQ(Apply("src", Pvc("src", "1Gi")).code, 0);
  ASSERT_EQ(Apply("clone", Pvc("clone", "1Gi",
                               "  volumeMode: Block\n  dataSource:\n    kind: "
                               "PersistentVolumeClaim\n    name: src\n"))
                .code,
            0);
  EXPECT_EQ(Phase("clone"), "Pending");
  EXPECT_NE(Describe("clone").find("must have the same volume mode for cloning.  Source is "
                                   "Filesystem, but new PVC requested Block"),
            std::string::npos)
      << Describe("clone");
}

TEST_P(DittoctlTest, CloneAcrossNamespacesNeedsAReferenceGrant) {
  CreateClass();
  std::string other = ns_ + "-src";
  ASSERT_EQ(Ctl({"create", "namespace", other}).code, 0);
  std::string source = Pvc("src", "1Gi");
  source.replace(source.find("namespace: NS"), 13, "namespace: " + other);
  ASSERT_EQ(Apply("src", source).code, 0);
  std::string ref = fmt::format(
      "  dataSourceRef:\n    kind: PersistentVolumeClaim\n    name: src\n    namespace: {}\n",
      other);
  ASSERT_EQ(Apply("clone", Pvc("clone", "1Gi", ref)).code, 0);
  EXPECT_EQ(Phase("clone"), "Pending");
  EXPECT_NE(Describe("clone").find("isn't allowed"), std::string::npos) << Describe("clone");
  std::string grant = fmt::format(R"(apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: allow-clones
  namespace: {}
spec:
  from:
  - group: ""
    kind: PersistentVolumeClaim
    namespace: NS
  to:
  - group: ""
    kind: PersistentVolumeClaim
)",
                                  other);
  ASSERT_EQ(Apply("grant", grant).code, 0);
  EXPECT_EQ(Phase("clone"), "Bound");
}

TEST_P(DittoctlTest, SourceBeingDeletedCannotBeCloned) {
  CreateClass();
  ASSERT_EQ(Apply("src", Pvc("src", "1Gi")).code, 0);
  ASSERT_EQ(Ctl({"mount", "pvc/src", Mnt("a"), "-n", ns_}).code, 0);
  ASSERT_EQ(Ctl({"delete", "pvc", "src", "-n", ns_}).code, 0);
  ASSERT_EQ(Apply("clone", Pvc("clone", "1Gi",
                               "  dataSource:\n    kind: PersistentVolumeClaim\n    name: src\n"))
                .code,
            0);
  EXPECT_EQ(Phase("clone"), "Pending");
  EXPECT_NE(Describe("clone").find("the PVC DataSource src is currently being deleted"),
            std::string::npos);
  // Mounting a claim that is being deleted is refused too.
  Result mount = Ctl({"mount", "pvc/src", Mnt("c"), "-n", ns_});
  EXPECT_EQ(mount.code, 1);
  EXPECT_NE(mount.err.find("is being deleted"), std::string::npos) << mount.err;
}

TEST_P(DittoctlTest, CloningProtectionHoldsSourceWhileACloneIsPending) {
  CreateClass();
  // A class the driver refuses (unknown parameter): the clone stays Pending
  // after the rules passed and the source got its cloning-protection.
  CreateClass("parameters:\n  bogus: \"1\"\n", "broken-NS");
  ASSERT_EQ(Apply("src", Pvc("src", "1Gi")).code, 0);
  ASSERT_EQ(Apply("clone", Pvc("clone", "1Gi",
                               "  dataSource:\n    kind: PersistentVolumeClaim\n    name: src\n",
                               "broken-NS"))
                .code,
            0);
  EXPECT_EQ(Phase("clone"), "Pending");
  EXPECT_NE(Describe("clone").find("InvalidArgument"), std::string::npos) << Describe("clone");
  EXPECT_NE(Describe("src").find("provisioner.storage.kubernetes.io/cloning-protection"),
            std::string::npos);
  Result deleted = Ctl({"delete", "pvc", "src", "-n", ns_});
  EXPECT_EQ(deleted.code, 0);
  EXPECT_NE(deleted.err.find("is Pending with it as its data source"), std::string::npos)
      << deleted.err;
  EXPECT_EQ(Phase("src"), "Terminating");
  ASSERT_EQ(Ctl({"delete", "pvc", "clone", "-n", ns_}).code, 0);
  EXPECT_EQ(Ctl({"get", "pvc", "src", "-n", ns_}).code, 1);
}

// A second driver name exists only in-process (dittod serves one), so this
// rule runs in that mode alone.
class DittoctlInProcessTest : public DittoctlTest {};

TEST_P(DittoctlInProcessTest, CloneWithClassOfAnotherDriverIsRefused) {
  CreateClass();
  CreateClass("", "other-NS", "other.csi.dev");
  // The source is provisioned by a driver named other.csi.dev.
  ASSERT_EQ(Apply("src", Pvc("src", "1Gi", "", "other-NS")).code, 0);
  Result other = Ctl({"get", "pvc", "src", "-n", ns_}, {"--driver-name", "other.csi.dev"});
  ASSERT_NE(other.out.find("Bound"), std::string::npos) << other.out << other.err;
  ASSERT_EQ(Apply("clone", Pvc("clone", "1Gi",
                               "  dataSource:\n    kind: PersistentVolumeClaim\n    name: src\n"))
                .code,
            0);
  EXPECT_EQ(Phase("clone"), "Pending");
  EXPECT_NE(Describe("clone").find("handled by CSI driver other.csi.dev, a different driver than "
                                   "ditto.csi.dev"),
            std::string::npos)
      << Describe("clone");
}

TEST_P(DittoctlTest, BadInputIsRejectedWithPositionsAndNothingApplied) {
  std::string bad_yaml = files_ + "/bad.yaml";
  WriteFile(bad_yaml, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [x\n");
  Result r = Ctl({"apply", "-f", bad_yaml});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(bad_yaml + ":"), std::string::npos) << r.err;

  r = Apply("quantity", Pvc("q", "5Gx", "", "ditto"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("quantity.yaml:11:16:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"5Gx\""), std::string::npos) << r.err;

  r = Apply("field", Pvc("f", "1Gi", "  colour: blue\n", "ditto"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("field.yaml:12:3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown field \"spec.colour\""), std::string::npos) << r.err;

  r = Apply("name", Pvc("Bad_Name", "1Gi", "", "ditto"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("RFC 1123"), std::string::npos) << r.err;

  r = Apply("kind", "apiVersion: v1\nkind: Deployment\nmetadata:\n  name: x\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no matches for kind \"Deployment\""), std::string::npos) << r.err;
  // A Pod is not run, and not an error: skipped with a note.
  r = Apply("pod", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "pod/x skipped\n");
  EXPECT_NE(r.err.find("dittoctl runs no pods"), std::string::npos) << r.err;

  std::string missing_ns = Pvc("m", "1Gi", "", "ditto");
  missing_ns.replace(missing_ns.find("namespace: NS"), 13, "namespace: nowhere");
  r = Apply("missing-ns", missing_ns);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("namespaces \"nowhere\" not found"), std::string::npos) << r.err;

  // All or nothing: the valid first document is not applied either.
  r = Apply("mixed", Pvc("good", "1Gi", "", "ditto") + "---\n" + Pvc("bad", "-1Gi", "", "ditto"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("mixed.yaml:23:16:"), std::string::npos) << r.err;
  EXPECT_EQ(Ctl({"get", "pvc", "good", "-n", ns_}).code, 1);
}

TEST_P(DittoctlTest, DefaultClassSnapshotRestoreExpandAndRoundTrip) {
  // storageClassName omitted: the default class `ditto`.
  std::string pvc = Pvc("data", "1Gi", "", "ditto");
  pvc.erase(pvc.find("  storageClassName: ditto\n"), 26);
  ASSERT_EQ(Apply("data", pvc).code, 0);
  EXPECT_EQ(Phase("data"), "Bound");
  Result yaml = Ctl({"get", "pvc", "data", "-n", ns_, "-o", "yaml"});
  EXPECT_NE(yaml.out.find("storageClassName: ditto"), std::string::npos) << yaml.out;
  // -o yaml round-trips through apply.
  std::string round = files_ + "/round.yaml";
  WriteFile(round, yaml.out);
  Result again = Ctl({"apply", "-f", round});
  EXPECT_EQ(again.out, "persistentvolumeclaim/data unchanged\n") << again.err;

  ASSERT_EQ(Ctl({"mount", "pvc/data", Mnt("a"), "-n", ns_}).code, 0);
  WriteFile(Mnt("a") + "/file.txt", "snapshot me\n");
  sync();
  Result snap = Apply("snap", R"(apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: snap
  namespace: NS
spec:
  source:
    persistentVolumeClaimName: data
)");
  ASSERT_EQ(snap.code, 0) << snap.err;
  Result ready = Ctl({"wait", "vs/snap", "--for=ready", "--timeout=30s", "-n", ns_});
  EXPECT_EQ(ready.out, "volumesnapshot.snapshot.storage.k8s.io/snap condition met\n") << ready.err;
  ASSERT_EQ(Apply("restore", Pvc("restored", "1Gi",
                                 "  dataSource:\n    apiGroup: snapshot.storage.k8s.io\n    kind: "
                                 "VolumeSnapshot\n    name: snap\n",
                                 "ditto"))
                .code,
            0);
  EXPECT_EQ(Phase("restored"), "Bound");
  ASSERT_EQ(Ctl({"mount", "pvc/restored", Mnt("b"), "-n", ns_}).code, 0);
  EXPECT_EQ(ReadAll(Mnt("b") + "/file.txt"), "snapshot me\n");

  // Expansion (the default class allows it): the volume grows now, the
  // filesystem at the next mount.
  ASSERT_EQ(Ctl({"unmount", Mnt("a")}).code, 0);
  Result grown = Apply("data", Pvc("data", "2Gi", "", "ditto"));
  EXPECT_EQ(grown.out, "persistentvolumeclaim/data configured\n") << grown.err;
  EXPECT_NE(Describe("data").find("FileSystemResizePending"), std::string::npos);
  ASSERT_EQ(Ctl({"mount", "pvc/data", Mnt("a"), "-n", ns_}).code, 0);
  Result listed = Ctl({"get", "pvc", "data", "-n", ns_, "--no-headers"});
  EXPECT_NE(listed.out.find(" 2Gi "), std::string::npos) << listed.out;
  struct statvfs fs;
  ASSERT_EQ(statvfs(Mnt("a").c_str(), &fs), 0);
  EXPECT_GT(static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize, uint64_t{3} << 29);
  EXPECT_EQ(ReadAll(Mnt("a") + "/file.txt"), "snapshot me\n");
  // Shrinking is refused.
  Result shrink = Apply("data", Pvc("data", "1Gi", "", "ditto"));
  EXPECT_EQ(shrink.code, 1);
  EXPECT_NE(shrink.err.find("can not be less than previous value"), std::string::npos);
}

// VolumeAttributesClass: provisioning thin -> thick on a bound claim, the
// status fields external-resizer sets, a class with a parameter the driver
// refuses (Infeasible), a missing class (Pending); then changed-block
// metadata between two VolumeSnapshots with `snapshot diff`.
TEST_P(DittoctlTest, VolumeAttributesClassAndSnapshotDiff) {
  Result classes = Apply("vac", R"(apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata:
  name: thin-NS
driverName: ditto.csi.dev
parameters:
  provisioning: thin
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata:
  name: thick-NS
driverName: ditto.csi.dev
parameters:
  provisioning: thick
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata:
  name: bogus-NS
driverName: ditto.csi.dev
parameters:
  iops: "3000"
)");
  ASSERT_EQ(classes.code, 0) << classes.err;
  Result listed_classes = Ctl({"get", "vac", "thick-" + ns_});
  EXPECT_NE(listed_classes.out.find("ditto.csi.dev"), std::string::npos) << listed_classes.out;

  auto claim = [&](const std::string& vac) {
    return Pvc("data", "64Mi", "  volumeAttributesClassName: " + vac + "\n", "ditto");
  };
  auto status_field = [&](const std::string& field) {
    Result yaml = Ctl({"get", "pvc", "data", "-n", ns_, "-o", "yaml"});
    size_t at = yaml.out.find(field + ":");
    if (at == std::string::npos) return std::string();
    size_t end = yaml.out.find('\n', at);
    return yaml.out.substr(at + field.size() + 2, end - at - field.size() - 2);
  };
  ASSERT_EQ(Apply("data", claim("thin-" + ns_)).code, 0);
  EXPECT_EQ(Phase("data"), "Bound");
  EXPECT_EQ(status_field("currentVolumeAttributesClassName"), "thin-" + ns_);
  Result listed = Ctl({"get", "pvc", "data", "-n", ns_});
  EXPECT_NE(listed.out.find("thin-" + ns_), std::string::npos) << listed.out;

  Result thick = Apply("data", claim("thick-" + ns_));
  EXPECT_EQ(thick.code, 0) << thick.err;
  EXPECT_EQ(status_field("currentVolumeAttributesClassName"), "thick-" + ns_);
  EXPECT_NE(Describe("data").find("VolumeModifySuccessful"), std::string::npos);

  ASSERT_EQ(Apply("data", claim("bogus-" + ns_)).code, 0);
  EXPECT_EQ(status_field("currentVolumeAttributesClassName"), "thick-" + ns_);
  EXPECT_EQ(status_field("    status"), "Infeasible");
  EXPECT_NE(Describe("data").find("unknown key \"iops\""), std::string::npos) << Describe("data");
  ASSERT_EQ(Apply("data", claim("missing-" + ns_)).code, 0);
  EXPECT_EQ(status_field("    status"), "Pending");
  // Unsetting the class is refused, as by the API server.
  Result unset = Apply("data", Pvc("data", "64Mi", "", "ditto"));
  EXPECT_EQ(unset.code, 1);
  EXPECT_NE(unset.err.find("non-nil value to nil"), std::string::npos) << unset.err;

  // Changed blocks between two snapshots of the claim.
  ASSERT_EQ(Ctl({"mount", "pvc/data", Mnt("a"), "-n", ns_}).code, 0);
  auto snapshot = [&](const std::string& name) {
    Result r = Apply(name, fmt::format(R"(apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: {}
  namespace: NS
spec:
  source:
    persistentVolumeClaimName: data
)",
                                       name));
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(Ctl({"wait", "vs/" + name, "--for=ready", "--timeout=30s", "-n", ns_}).code, 0);
  };
  ASSERT_NO_FATAL_FAILURE(snapshot("before"));
  WriteFile(Mnt("a") + "/new.bin", std::string(1 << 20, 'n'));
  sync();
  ASSERT_NO_FATAL_FAILURE(snapshot("after"));
  Result diff = Ctl({"snapshot", "diff", "before", "after", "-n", ns_, "-o", "json"});
  ASSERT_EQ(diff.code, 0) << diff.err;
  EXPECT_NE(diff.out.find("\"rangeCount\""), std::string::npos) << diff.out;
  size_t bytes_at = diff.out.find("\"bytes\": ");
  ASSERT_NE(bytes_at, std::string::npos) << diff.out;
  EXPECT_GE(std::stoll(diff.out.substr(bytes_at + 9)), 1 << 20) << diff.out;
  Result table = Ctl({"snapshot", "diff", "before", "after", "-n", ns_});
  EXPECT_NE(table.out.find("OFFSET"), std::string::npos) << table.out;
  Result same = Ctl({"snapshot", "diff", "before", "before", "-n", ns_, "-o", "json"});
  EXPECT_NE(same.out.find("\"rangeCount\": 0"), std::string::npos) << same.out;
  Result allocated = Ctl({"snapshot", "allocated", "after", "-n", ns_, "-o", "json"});
  ASSERT_EQ(allocated.code, 0) << allocated.err;
  EXPECT_NE(allocated.out.find("\"volumeCapacityBytes\": 67108864"), std::string::npos)
      << allocated.out;
  Result missing = Ctl({"snapshot", "diff", "before", "nope", "-n", ns_});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;
}

TEST_P(DittoctlTest, BlockClaimAttachesAndRetainKeepsTheVolume) {
  CreateClass("reclaimPolicy: Retain\n");
  ASSERT_EQ(Apply("blk", Pvc("blk", "64Mi", "  volumeMode: Block\n")).code, 0);
  Result attached = Ctl({"attach", "pvc/blk", "-n", ns_});
  ASSERT_EQ(attached.code, 0) << attached.err;
  std::string device = attached.out.substr(0, attached.out.find('\n'));
  auto info = host_.Stat(device);
  ASSERT_TRUE(info.ok()) << device;
  EXPECT_TRUE(info->is_block_device) << device;
  Result mount = Ctl({"mount", "pvc/blk", Mnt("c"), "-n", ns_});
  EXPECT_EQ(mount.code, 1);
  EXPECT_NE(mount.err.find("use dittoctl attach"), std::string::npos);
  EXPECT_EQ(Ctl({"detach", "pvc/blk", "-n", ns_}).code, 0);
  std::string volume = Ctl({"get", "pvc", "blk", "-n", ns_, "--no-headers"}).out;
  volume = volume.substr(volume.find("pvc-"), 40);
  ASSERT_EQ(Ctl({"delete", "pvc", "blk", "-n", ns_}).code, 0);
  Result pv = Ctl({"get", "pv", volume, "--no-headers"});
  EXPECT_NE(pv.out.find("Released"), std::string::npos) << pv.out << pv.err;
  EXPECT_EQ(Ctl({"delete", "pv", volume}).code, 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, DittoctlInProcessTest, ::testing::Values(Mode::kInProcess),
                         [](const ::testing::TestParamInfo<Mode>&) { return "InProcess"; });
INSTANTIATE_TEST_SUITE_P(Modes, DittoctlTest, ::testing::Values(Mode::kInProcess, Mode::kDaemon),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           return info.param == Mode::kInProcess ? "InProcess" : "Dittod";
                         });

}  // namespace ditto::e2e
