// Volume group snapshots in the embedded control plane, against the fake
// CSI driver: the VolumeGroupSnapshot/Content/Class kinds, the member
// VolumeSnapshots the snapshot-controller makes, restore of one member,
// deletion by policy, and what users see when something is wrong.
#include <gtest/gtest.h>

#include <regex>

#include "control/controllers/group_snapshots.h"
#include "cli/kubectl/printers.h"
#include "fmt/format.h"
#include "plane_fixture.h"

namespace ditto::control {
namespace {

class GroupSnapshotTest : public PlaneTest {
 protected:
  static std::string Group(const std::string& name, const std::string& source,
                           const std::string& group_class = "") {
    return "apiVersion: groupsnapshot.storage.k8s.io/v1beta2\nkind: VolumeGroupSnapshot\n"
           "metadata:\n  name: " +
           name + "\nspec:\n" +
           (group_class.empty() ? "" : "  volumeGroupSnapshotClassName: " + group_class + "\n") +
           "  source:\n" + source;
  }
  static std::string Selecting(const std::string& app) {
    return "    selector:\n      matchLabels:\n        app: " + app + "\n";
  }
  static std::string GroupClass(const std::string& name, const std::string& policy,
                                const std::string& driver = "ditto.csi.dev") {
    return "apiVersion: groupsnapshot.storage.k8s.io/v1beta2\nkind: VolumeGroupSnapshotClass\n"
           "metadata:\n  name: " +
           name + "\ndriver: " + driver + "\ndeletionPolicy: " + policy + "\n";
  }
  std::vector<Json> List(const std::string& kind, const std::string& ns = "default") {
    auto objects = ListObjects(plane_->store(), kind, ns, false);
    EXPECT_TRUE(objects.ok());
    return objects.ok() ? *objects : std::vector<Json>();
  }
  std::string ErrorOf(const std::string& group) {
    return GetString(Get(kVolumeGroupSnapshot, group), {"status", "error", "message"});
  }
};

// A claim of the default class labelled app=APP.
std::string LabelledClaim(const std::string& name, const std::string& app) {
  return "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: " + name +
         "\n  labels:\n    app: " + app +
         "\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: "
         "1Gi\n";
}

class GroupSnapshotFlowTest : public GroupSnapshotTest {
 protected:
  void SetUp() override {
    GroupSnapshotTest::SetUp();
    for (const auto& [name, app] : {std::pair{"data", "db"}, {"wal", "db"}, {"other", "web"}}) {
      ASSERT_EQ(Apply(LabelledClaim(name, app)), "");
      ASSERT_EQ(Phase(name), "Bound");
    }
  }
  std::string HandleOf(const std::string& claim) {
    Json volume = Get(kPersistentVolume,
                      GetString(Get(kPersistentVolumeClaim, claim), {"spec", "volumeName"}));
    return GetString(volume, {"spec", "csi", "volumeHandle"});
  }
};

TEST_F(GroupSnapshotFlowTest, FirstUseCreatesTheDefaultGroupClass) {
  Json group_class = Get(kVolumeGroupSnapshotClass, "ditto");
  EXPECT_EQ(GetString(group_class, {"driver"}), "ditto.csi.dev");
  EXPECT_EQ(GetString(group_class, {"deletionPolicy"}), "Delete");
  EXPECT_EQ(GetAnnotation(group_class, kDefaultGroupSnapshotClassAnnotation), "true");
  EXPECT_EQ(ResolveKind("vgs")->kind, kVolumeGroupSnapshot);
  EXPECT_EQ(ResolveKind("vgsc")->kind, kVolumeGroupSnapshotContent);
  EXPECT_EQ(ResolveKind("volumegroupsnapshotclasses.groupsnapshot.storage.k8s.io")->kind,
            kVolumeGroupSnapshotClass);
}

TEST_F(GroupSnapshotFlowTest, SelectorSnapshotsTheMatchingClaimsTogether) {
  ASSERT_EQ(Apply(Group("nightly", Selecting("db"))), "");
  Json group = Get(kVolumeGroupSnapshot, "nightly");
  EXPECT_TRUE(GetBool(group, {"status", "readyToUse"})) << group.dump(2);
  EXPECT_EQ(GetString(group, {"spec", "volumeGroupSnapshotClassName"}), "ditto");
  EXPECT_FALSE(GetString(group, {"status", "creationTime"}).empty());
  EXPECT_TRUE(HasFinalizer(group, kGroupSnapshotBoundFinalizer));
  std::string content_name = "groupsnapcontent-" + Uid(group);
  EXPECT_EQ(GetString(group, {"status", "boundVolumeGroupSnapshotContentName"}), content_name);

  Json content = Get(kVolumeGroupSnapshotContent, content_name);
  std::string group_id = "group-groupsnapshot-" + Uid(group);
  EXPECT_EQ(GetString(content, {"status", "volumeGroupSnapshotHandle"}), group_id);
  EXPECT_EQ(GetString(content, {"spec", "deletionPolicy"}), "Delete");
  EXPECT_EQ(GetString(content, {"spec", "volumeGroupSnapshotRef", "uid"}), Uid(group));
  EXPECT_EQ(content["spec"]["source"]["volumeHandles"],
            Json::array({HandleOf("data"), HandleOf("wal")}));
  const Json& members = content["status"]["volumeSnapshotInfoList"];
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(GetString(members[0], {"volumeHandle"}), HandleOf("data"));
  EXPECT_EQ(GetString(members[0], {"snapshotHandle"}), "snap-groupsnapshot-" + Uid(group) + "-0");

  // One member VolumeSnapshot per claim, bound to a pre-bound content.
  std::vector<Json> snapshots = List(kVolumeSnapshot);
  ASSERT_EQ(snapshots.size(), 2u);
  for (const Json& snapshot : snapshots) {
    EXPECT_TRUE(std::regex_match(Name(snapshot), std::regex("snapshot-[0-9a-f]{64}")))
        << Name(snapshot);
    EXPECT_EQ(GetString(snapshot, {"metadata", "labels", kGroupSnapshotNameLabel}), "nightly");
    EXPECT_EQ(GetString(snapshot["metadata"]["ownerReferences"][0], {"uid"}), Uid(group));
    EXPECT_TRUE(HasFinalizer(snapshot, kSnapshotInGroupFinalizer));
    EXPECT_TRUE(GetBool(snapshot, {"status", "readyToUse"}));
    EXPECT_EQ(GetString(snapshot, {"status", "restoreSize"}), "1Gi");
    EXPECT_EQ(GetString(snapshot, {"status", "volumeGroupSnapshotName"}), "nightly");
    std::string member_content = GetString(snapshot, {"status", "boundVolumeSnapshotContentName"});
    EXPECT_EQ(GetString(snapshot, {"spec", "source", "volumeSnapshotContentName"}), member_content);
    Json bound = Get(kVolumeSnapshotContent, member_content);
    EXPECT_EQ(GetString(bound, {"spec", "volumeSnapshotRef", "uid"}), Uid(snapshot));
    EXPECT_EQ(GetString(bound, {"spec", "source", "snapshotHandle"}),
              GetString(bound, {"status", "snapshotHandle"}));
    EXPECT_EQ(GetString(bound, {"status", "volumeGroupSnapshotHandle"}), group_id);
  }

  // A member restores into a new claim like any VolumeSnapshot.
  std::string member = Name(snapshots[0]);
  std::string handle =
      GetString(Get(kVolumeSnapshotContent,
                    GetString(snapshots[0], {"status", "boundVolumeSnapshotContentName"})),
                {"status", "snapshotHandle"});
  ASSERT_EQ(Apply(Claim("restored", "1Gi",
                        "  dataSource:\n    apiGroup: snapshot.storage.k8s.io\n    kind: "
                        "VolumeSnapshot\n    name: " +
                            member + "\n")),
            "");
  EXPECT_EQ(Phase("restored"), "Bound") << Warning("restored");
  EXPECT_EQ(fake_.state().create_requests.back().volume_content_source().snapshot().snapshot_id(),
            handle);

  // Printed as kubectl prints the CRDs' columns.
  std::string table =
      PrintTable(*FindKind(kVolumeGroupSnapshot), {group}, TableOptions(),
                 ParseTimestamp(GetString(group, {"metadata", "creationTimestamp"})));
  EXPECT_EQ(table.substr(0, table.find('\n')),
            "NAME      READYTOUSE   VOLUMEGROUPSNAPSHOTCLASS   VOLUMEGROUPSNAPSHOTCONTENT" +
                std::string(53 + 3 - 26, ' ') + "CREATIONTIME   AGE");
  EXPECT_NE(table.find("nightly   true         ditto"), std::string::npos) << table;
  std::string contents =
      PrintTable(*FindKind(kVolumeGroupSnapshotContent), {content}, TableOptions(), 0);
  EXPECT_NE(contents.find("READYTOUSE   DELETIONPOLICY   DRIVER          VOLUMEGROUPSNAPSHOTCLASS"
                          "   VOLUMEGROUPSNAPSHOTNAMESPACE   VOLUMEGROUPSNAPSHOT   AGE"),
            std::string::npos)
      << contents;
}

TEST_F(GroupSnapshotFlowTest, MembersGoOnlyWithTheirGroupAndDeletePolicyDeletesAll) {
  ASSERT_EQ(Apply(Group("nightly", Selecting("db"))), "");
  Json group = Get(kVolumeGroupSnapshot, "nightly");
  std::vector<Json> snapshots = List(kVolumeSnapshot);
  ASSERT_EQ(snapshots.size(), 2u);
  auto refused = plane_->Delete(kVolumeSnapshot, "default", Name(snapshots[0]));
  ASSERT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("belongs to group snapshot default/nightly"),
            std::string::npos)
      << refused.status();
  EXPECT_FALSE(IsBeingDeleted(Get(kVolumeSnapshot, Name(snapshots[0]))));
  auto content_refused =
      plane_->Delete(kVolumeSnapshotContent, "",
                     GetString(snapshots[0], {"status", "boundVolumeSnapshotContentName"}));
  EXPECT_TRUE(absl::IsFailedPrecondition(content_refused.status())) << content_refused.status();

  auto held = plane_->Delete(kVolumeGroupSnapshot, "default", "nightly");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(*held, "");
  std::string id = "groupsnapshot-" + Uid(group);
  ASSERT_EQ(fake_.state().deleted_group_snapshots.size(), 1u);
  EXPECT_EQ(fake_.state().deleted_group_snapshots[0],
            fmt::format("group-{} snap-{}-0,snap-{}-1", id, id, id));
  EXPECT_TRUE(List(kVolumeSnapshot).empty());
  EXPECT_TRUE(List(kVolumeSnapshotContent, "").empty());
  EXPECT_TRUE(List(kVolumeGroupSnapshotContent, "").empty());
}

TEST_F(GroupSnapshotFlowTest, RetainKeepsTheContentAndTheGroupOnTheNode) {
  ASSERT_EQ(Apply(GroupClass("keep", "Retain")), "");
  ASSERT_EQ(Apply(Group("kept", Selecting("db"), "keep")), "");
  std::string content_name = "groupsnapcontent-" + Uid(Get(kVolumeGroupSnapshot, "kept"));
  ASSERT_TRUE(GetBool(Get(kVolumeGroupSnapshotContent, content_name), {"status", "readyToUse"}));
  auto held = plane_->Delete(kVolumeGroupSnapshot, "default", "kept");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(*held, "");
  EXPECT_TRUE(fake_.state().deleted_group_snapshots.empty());
  EXPECT_EQ(fake_.state().group_snapshots.size(), 1u);
  Json content = Get(kVolumeGroupSnapshotContent, content_name);
  EXPECT_EQ(Name(content), content_name);
  EXPECT_FALSE(HasFinalizer(content, kGroupSnapshotContentFinalizer));
  EXPECT_TRUE(List(kVolumeSnapshot).empty());
  EXPECT_EQ(List(kVolumeSnapshotContent, "").size(), 2u);
  // The retained content, deleted later, leaves the group on the node too.
  ASSERT_TRUE(plane_->Delete(kVolumeGroupSnapshotContent, "", content_name).ok());
  EXPECT_TRUE(List(kVolumeGroupSnapshotContent, "").empty());
  EXPECT_TRUE(fake_.state().deleted_group_snapshots.empty());
}

TEST_F(GroupSnapshotFlowTest, EachProblemLeavesTheGroupNotReadyWithAWarning) {
  ASSERT_EQ(Apply(Group("none", Selecting("nothing"))), "");
  EXPECT_FALSE(GetBool(Get(kVolumeGroupSnapshot, "none"), {"status", "readyToUse"}, true));
  EXPECT_NE(ErrorOf("none").find("matches no PersistentVolumeClaim in namespace default"),
            std::string::npos)
      << ErrorOf("none");
  EXPECT_EQ(Warning("none", kVolumeGroupSnapshot), ErrorOf("none"));

  ASSERT_EQ(Apply(Group("missing", Selecting("db"), "nope")), "");
  EXPECT_NE(ErrorOf("missing").find("volumegroupsnapshotclasses.groupsnapshot.storage.k8s.io "
                                    "\"nope\" not found"),
            std::string::npos)
      << ErrorOf("missing");

  ASSERT_EQ(Apply(GroupClass("foreign", "Delete", "other.csi.dev")), "");
  ASSERT_EQ(Apply(Group("foreign", Selecting("db"), "foreign")), "");
  EXPECT_NE(ErrorOf("foreign").find("uses driver other.csi.dev but the volumes of the selected "
                                    "PVCs are handled by ditto.csi.dev"),
            std::string::npos)
      << ErrorOf("foreign");

  fake_.state().fail_create = "no space";
  ASSERT_EQ(Apply(LabelledClaim("pending", "db")), "");
  ASSERT_EQ(Apply(Group("unbound", Selecting("db"))), "");
  EXPECT_NE(ErrorOf("unbound").find("the PVC pending is not yet bound to a PV"), std::string::npos)
      << ErrorOf("unbound");
  EXPECT_TRUE(fake_.state().group_snapshots.empty());
  EXPECT_TRUE(List(kVolumeSnapshot).empty());
  // Each stays unbound and can be deleted at once.
  ASSERT_TRUE(plane_->Delete(kVolumeGroupSnapshot, "default", "unbound").ok());
  EXPECT_TRUE(Get(kVolumeGroupSnapshot, "unbound").is_null());
}

TEST_F(GroupSnapshotFlowTest, DriverWithoutGroupControllerIsNamed) {
  fake_.state().group_capability = false;
  Open();
  ASSERT_EQ(Apply(Group("nightly", Selecting("db"))), "");
  EXPECT_NE(ErrorOf("nightly").find("does not report the CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT "
                                    "capability"),
            std::string::npos)
      << ErrorOf("nightly");
}

TEST_F(GroupSnapshotFlowTest, PreProvisionedContentIsReadBackAndBound) {
  csi::v1::CreateVolumeGroupSnapshotRequest request;
  request.set_name("old");
  request.add_source_volume_ids(HandleOf("data"));
  request.add_source_volume_ids(HandleOf("wal"));
  csi::v1::CreateVolumeGroupSnapshotResponse response;
  ASSERT_TRUE(plane_->csi().CreateVolumeGroupSnapshot(request, &response).ok());
  ASSERT_EQ(Apply(R"(apiVersion: groupsnapshot.storage.k8s.io/v1beta2
kind: VolumeGroupSnapshotContent
metadata:
  name: old-content
spec:
  driver: ditto.csi.dev
  deletionPolicy: Retain
  volumeGroupSnapshotRef:
    name: old
    namespace: default
  source:
    groupSnapshotHandles:
      volumeGroupSnapshotHandle: group-old
      volumeSnapshotHandles: [snap-old-0, snap-old-1]
---
apiVersion: groupsnapshot.storage.k8s.io/v1beta2
kind: VolumeGroupSnapshot
metadata:
  name: old
spec:
  source:
    volumeGroupSnapshotContentName: old-content
)"),
            "");
  Json group = Get(kVolumeGroupSnapshot, "old");
  EXPECT_TRUE(GetBool(group, {"status", "readyToUse"})) << group.dump(2);
  EXPECT_EQ(GetString(group, {"status", "boundVolumeGroupSnapshotContentName"}), "old-content");
  Json content = Get(kVolumeGroupSnapshotContent, "old-content");
  EXPECT_EQ(GetString(content, {"spec", "volumeGroupSnapshotRef", "uid"}), Uid(group));
  EXPECT_EQ(content["status"]["volumeSnapshotInfoList"].size(), 2u);
  EXPECT_EQ(List(kVolumeSnapshot).size(), 2u);

  // A content naming a group the driver does not have says so.
  ASSERT_EQ(Apply(R"(apiVersion: groupsnapshot.storage.k8s.io/v1beta2
kind: VolumeGroupSnapshotContent
metadata:
  name: lost
spec:
  driver: ditto.csi.dev
  deletionPolicy: Retain
  volumeGroupSnapshotRef: {name: lost, namespace: default}
  source:
    groupSnapshotHandles: {volumeGroupSnapshotHandle: group-lost, volumeSnapshotHandles: [x]}
)"),
            "");
  EXPECT_NE(GetString(Get(kVolumeGroupSnapshotContent, "lost"), {"status", "error", "message"})
                .find("GetVolumeGroupSnapshot: rpc error: code = NotFound"),
            std::string::npos);
}

TEST_F(GroupSnapshotTest, BadObjectsAreRefusedAndNothingIsApplied) {
  std::string both =
      Apply(Group("both", Selecting("db") + "    volumeGroupSnapshotContentName: c\n"));
  EXPECT_NE(both.find("exactly one of selector and volumeGroupSnapshotContentName"),
            std::string::npos)
      << both;
  std::string bad_selector = Apply(
      Group("bad", "    selector:\n      matchExpressions:\n      - {key: app, operator: Near}\n"));
  EXPECT_NE(bad_selector.find("spec.source.selector"), std::string::npos) << bad_selector;
  std::string no_ref = Apply(R"(apiVersion: groupsnapshot.storage.k8s.io/v1beta2
kind: VolumeGroupSnapshotContent
metadata:
  name: c
spec:
  driver: ditto.csi.dev
  deletionPolicy: Delete
  source:
    volumeHandles: [a]
)");
  EXPECT_NE(no_ref.find("spec.volumeGroupSnapshotRef.name: Required value"), std::string::npos)
      << no_ref;
  std::string no_policy = Apply(
      "apiVersion: groupsnapshot.storage.k8s.io/v1beta2\nkind: VolumeGroupSnapshotClass\n"
      "metadata:\n  name: x\ndriver: ditto.csi.dev\n");
  EXPECT_NE(no_policy.find("deletionPolicy: Required value"), std::string::npos) << no_policy;
  EXPECT_TRUE(List(kVolumeGroupSnapshot).empty());
  EXPECT_TRUE(List(kVolumeGroupSnapshotContent, "").empty());

  // The spec of a group snapshot is immutable once created.
  ASSERT_EQ(Apply(Group("g", Selecting("db"))), "");
  std::string changed = Apply(Group("g", Selecting("web")));
  EXPECT_NE(changed.find("Forbidden: updates to spec are forbidden"), std::string::npos) << changed;
}

}  // namespace
}  // namespace ditto::control
