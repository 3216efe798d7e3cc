// Volume group snapshots through dittoctl against a real pool: two labelled
// claims with data, a VolumeGroupSnapshot selecting them, its member
// VolumeSnapshots, a member restored into a new claim, and deletion of the
// group (policy Delete) removing the group and its snapshots from the node.
#include <gtest/gtest.h>

#include <algorithm>

#include "control/controllers/csi_client.h"
#include "e2e/dittoctl_fixture.h"
#include "pool/pool.h"

namespace ditto::e2e {
namespace {

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

}  // namespace

class GroupSnapshotE2eTest : public DittoctlTest {
 protected:
  std::string LabelledPvc(const std::string& name) {
    return fmt::format(R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {}
  namespace: NS
  labels:
    app: db
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 64Mi
)",
                       name);
  }

  std::string Jsonpath(const std::vector<std::string>& what, const std::string& path) {
    std::vector<std::string> args = {"get"};
    args.insert(args.end(), what.begin(), what.end());
    args.push_back("-o");
    args.push_back("jsonpath=" + path);
    Result r = Ctl(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  }

  // What the node has, asked of the driver that owns the pool: dittod over
  // CSI, or the pool itself when dittoctl ran the driver in-process.
  struct NodeState {
    bool group = false;
    int snapshots = 0;  // of `snapshot_ids`
  };
  NodeState OnNode(const std::string& group_id, const std::vector<std::string>& snapshot_ids) {
    NodeState state;
    if (!env_->endpoint.empty()) {
      auto client = control::CsiClient::Connect(env_->endpoint);
      EXPECT_TRUE(client.ok()) << client.status();
      if (!client.ok()) return state;
      csi::v1::GetVolumeGroupSnapshotRequest request;
      request.set_group_snapshot_id(group_id);
      for (const std::string& id : snapshot_ids) request.add_snapshot_ids(id);
      csi::v1::GetVolumeGroupSnapshotResponse response;
      Status got = (*client)->GetVolumeGroupSnapshot(request, &response);
      EXPECT_TRUE(got.ok() || absl::IsNotFound(got)) << got;
      state.group = got.ok();
      for (const std::string& id : snapshot_ids) {
        csi::v1::ListSnapshotsRequest list;
        list.set_snapshot_id(id);
        csi::v1::ListSnapshotsResponse listed;
        EXPECT_TRUE((*client)->ListSnapshots(list, &listed).ok());
        state.snapshots += listed.entries_size();
      }
      return state;
    }
    auto pool = pool::Pool::Open(host_, env_->state + "/pool");
    EXPECT_TRUE(pool.ok()) << pool.status();
    if (!pool.ok()) return state;
    auto group = (*pool)->GetGroupSnapshot(group_id);
    EXPECT_TRUE(group.ok() || absl::IsNotFound(group.status())) << group.status();
    state.group = group.ok();
    auto snapshots = (*pool)->ListSnapshots();
    EXPECT_TRUE(snapshots.ok()) << snapshots.status();
    if (!snapshots.ok()) return state;
    for (const auto& snapshot : *snapshots) {
      state.snapshots += std::count(snapshot_ids.begin(), snapshot_ids.end(), snapshot.id);
    }
    return state;
  }
};

TEST_P(GroupSnapshotE2eTest, LabelledClaimsSnapshotTogetherAndAMemberRestores) {
  for (const char* name : {"data", "wal"}) {
    Result applied = Apply(name, LabelledPvc(name));
    ASSERT_EQ(applied.code, 0) << applied.err;
    ASSERT_EQ(Phase(name), "Bound");
  }
  ASSERT_EQ(Ctl({"mount", "pvc/data", Mnt("a"), "-n", ns_}).code, 0);
  ASSERT_EQ(Ctl({"mount", "pvc/wal", Mnt("b"), "-n", ns_}).code, 0);
  WriteFile(Mnt("a") + "/data.txt", "rows of the database\n");
  WriteFile(Mnt("b") + "/wal.txt", "its write-ahead log\n");
  sync();

  // No class named: the default VolumeGroupSnapshotClass `ditto`.
  Result group = Apply("group", R"(apiVersion: groupsnapshot.storage.k8s.io/v1beta2
kind: VolumeGroupSnapshot
metadata:
  name: nightly
  namespace: NS
spec:
  source:
    selector:
      matchLabels:
        app: db
)");
  ASSERT_EQ(group.code, 0) << group.err;
  EXPECT_EQ(group.out, "volumegroupsnapshot.groupsnapshot.storage.k8s.io/nightly created\n");
  Result ready = Ctl({"wait", "vgs/nightly", "--for=ready", "--timeout=30s", "-n", ns_});
  EXPECT_EQ(ready.out, "volumegroupsnapshot.groupsnapshot.storage.k8s.io/nightly condition met\n")
      << ready.err << Ctl({"describe", "vgs", "nightly", "-n", ns_}).out;
  Result listed = Ctl({"get", "volumegroupsnapshot", "-n", ns_});
  std::vector<std::string> table = Words(listed.out);
  ASSERT_EQ(table.size(), 12u) << listed.out;
  EXPECT_EQ(std::vector<std::string>(table.begin(), table.begin() + 6),
            (std::vector<std::string>{"NAME", "READYTOUSE", "VOLUMEGROUPSNAPSHOTCLASS",
                                      "VOLUMEGROUPSNAPSHOTCONTENT", "CREATIONTIME", "AGE"}));
  EXPECT_EQ(table[6], "nightly");
  EXPECT_EQ(table[7], "true");
  EXPECT_EQ(table[8], "ditto");
  std::string content = table[9];
  EXPECT_EQ(content.rfind("groupsnapcontent-", 0), 0u) << content;
  EXPECT_NE(Ctl({"describe", "vgs", "nightly", "-n", ns_}).out.find("GroupSnapshotCreated"),
            std::string::npos);
  Result contents = Ctl({"get", "vgsc", content, "--no-headers"});
  EXPECT_EQ(Words(contents.out).size(), 8u) << contents.out;
  EXPECT_NE(contents.out.find(" Delete "), std::string::npos) << contents.out;

  // The members: one VolumeSnapshot per claim, labelled with the group.
  std::string selector = "-l=groupsnapshot.storage.k8s.io/volumeGroupSnapshotName=nightly";
  std::vector<std::string> members =
      Words(Jsonpath({"vs", "-n", ns_, selector}, "{.items[*].metadata.name}"));
  ASSERT_EQ(members.size(), 2u);
  std::vector<std::string> handles;
  for (const std::string& member : members) {
    EXPECT_EQ(Jsonpath({"vs", member, "-n", ns_}, "{.status.readyToUse}"), "true");
    std::string bound =
        Jsonpath({"vs", member, "-n", ns_}, "{.status.boundVolumeSnapshotContentName}");
    handles.push_back(Jsonpath({"vsc", bound}, "{.status.snapshotHandle}"));
  }
  std::string group_id = Jsonpath({"vgsc", content}, "{.status.volumeGroupSnapshotHandle}");
  ASSERT_FALSE(group_id.empty());
  NodeState before = OnNode(group_id, handles);
  EXPECT_TRUE(before.group);
  EXPECT_EQ(before.snapshots, 2);

  // A member is not deleted on its own.
  Result alone = Ctl({"delete", "vs", members[0], "-n", ns_});
  EXPECT_EQ(alone.code, 1);
  EXPECT_NE(alone.err.find("belongs to group snapshot " + ns_ + "/nightly"), std::string::npos)
      << alone.err;

  // A member restores into a new claim holding what its claim held.
  Result restored = Apply("restored", Pvc("restored", "64Mi",
                                          "  dataSource:\n    apiGroup: snapshot.storage.k8s.io\n"
                                          "    kind: VolumeSnapshot\n    name: " +
                                              members[0] + "\n",
                                          "ditto"));
  ASSERT_EQ(restored.code, 0) << restored.err;
  ASSERT_EQ(Phase("restored"), "Bound") << Describe("restored");
  ASSERT_EQ(Ctl({"mount", "pvc/restored", Mnt("c"), "-n", ns_}).code, 0);
  bool from_data = host_.Stat(Mnt("c") + "/data.txt").ok();
  bool from_wal = host_.Stat(Mnt("c") + "/wal.txt").ok();
  EXPECT_NE(from_data, from_wal) << "the member restores exactly one claim";
  if (from_data) EXPECT_EQ(ReadAll(Mnt("c") + "/data.txt"), "rows of the database\n");
  if (from_wal) EXPECT_EQ(ReadAll(Mnt("c") + "/wal.txt"), "its write-ahead log\n");
  ASSERT_EQ(Ctl({"unmount", Mnt("c")}).code, 0);

  // Deleting the group (policy Delete) deletes the group on the node, its
  // snapshots, the content and the members.
  Result deleted = Ctl({"delete", "vgs", "nightly", "-n", ns_});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "volumegroupsnapshot \"nightly\" deleted\n");
  Result gone = Ctl({"get", "vs", "-n", ns_, selector});
  EXPECT_EQ(gone.out, "");
  EXPECT_EQ(gone.err, fmt::format("No resources found in {} namespace.\n", ns_));
  EXPECT_EQ(Ctl({"get", "vgsc", content}).code, 1);
  NodeState after = OnNode(group_id, handles);
  EXPECT_FALSE(after.group);
  EXPECT_EQ(after.snapshots, 0);
  // The restored claim does not depend on them.
  ASSERT_EQ(Ctl({"mount", "pvc/restored", Mnt("c"), "-n", ns_}).code, 0);
  EXPECT_TRUE(host_.Stat(Mnt("c") + (from_data ? "/data.txt" : "/wal.txt")).ok());
}

INSTANTIATE_TEST_SUITE_P(Modes, GroupSnapshotE2eTest,
                         ::testing::Values(Mode::kInProcess, Mode::kDaemon),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           return info.param == Mode::kInProcess ? "InProcess" : "Dittod";
                         });

}  // namespace ditto::e2e
