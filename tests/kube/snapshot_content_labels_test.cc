// SnapshotContentLabeler over a fake API server: which VolumeSnapshotContents
// and VolumeGroupSnapshotContents it labels (this driver's, all of whose
// snapshots or volumes this node holds), with what patch, which API version it
// settles on, and what it says when it may not.
#include "kube/snapshot_content_labels.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "fmt/format.h"

namespace ditto::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kContents[] = "/apis/groupsnapshot.storage.k8s.io/{}/volumegroupsnapshotcontents";
constexpr char kSnapshotContents[] = "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents";
constexpr char kQuery[] =
    "?labelSelector=%21snapshot.storage.kubernetes.io%2Fmanaged-by&resourceVersion=0";

// Answers by path (404 for any other); records every request.
class FakeApi final : public KubernetesApi {
 public:
  struct Shared {
    std::map<std::string, ApiResponse> gets;
    int patch_status = 200;
    std::vector<std::string> requests;  // "GET path" or "PATCH path body"
    std::mutex mu;                      // the labeler's thread and the test's
  };
  explicit FakeApi(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  StatusOr<ApiResponse> Get(const std::string& path) override {
    std::lock_guard lock(shared_->mu);
    shared_->requests.push_back("GET " + path);
    auto it = shared_->gets.find(path);
    if (it == shared_->gets.end()) return ApiResponse{404, R"({"message":"not found"})"};
    return it->second;
  }
  StatusOr<ApiResponse> Patch(const std::string& path, const std::string& body) override {
    std::lock_guard lock(shared_->mu);
    shared_->requests.push_back("PATCH " + path + " " + body);
    return ApiResponse{shared_->patch_status, "{}"};
  }
  std::string Server() const override { return "https://10.96.0.1:443"; }

 private:
  std::shared_ptr<Shared> shared_;
};

nlohmann::json Content(const std::string& name, const std::string& driver,
                       const std::vector<std::string>& volumes,
                       const std::string& class_name = "ditto") {
  return {{"metadata", {{"name", name}}},
          {"spec",
           {{"driver", driver},
            {"volumeGroupSnapshotClassName", class_name},
            {"source", {{"volumeHandles", volumes}}}}}};
}

std::string List(const std::vector<nlohmann::json>& items) {
  return nlohmann::json{{"kind", "VolumeGroupSnapshotContentList"}, {"items", items}}.dump();
}

// A VolumeSnapshotContent: pre-provisioned (`snapshot_handle`) or to be made
// of a volume (`volume_handle`).
nlohmann::json SnapshotContent(const std::string& name, const std::string& driver,
                               const std::string& snapshot_handle,
                               const std::string& volume_handle = "") {
  nlohmann::json source = nlohmann::json::object();
  if (!snapshot_handle.empty()) source["snapshotHandle"] = snapshot_handle;
  if (!volume_handle.empty()) source["volumeHandle"] = volume_handle;
  return {{"metadata", {{"name", name}}},
          {"spec", {{"driver", driver}, {"deletionPolicy", "Delete"}, {"source", source}}}};
}

class SnapshotContentLabelsTest : public ::testing::Test {
 protected:
  // The snapshot CRDs are served (no content) unless a test says otherwise.
  SnapshotContentLabelsTest() { ServeSnapshotContents({}); }

  std::unique_ptr<SnapshotContentLabeler> Labeler() {
    return std::make_unique<SnapshotContentLabeler>(std::make_unique<FakeApi>(api_),
                                                    "ditto.csi.dev", "node-a");
  }
  void ServeSnapshotContents(const std::vector<nlohmann::json>& items) {
    api_->gets[std::string(kSnapshotContents) + kQuery] = ApiResponse{200, List(items)};
  }
  void Serve(const std::string& version, const std::vector<nlohmann::json>& items) {
    api_->gets[fmt::format(kContents, version) + kQuery] = ApiResponse{200, List(items)};
  }
  void ServeClass(const std::string& version, const std::string& name, const std::string& label) {
    nlohmann::json object = {{"metadata", {{"name", name}}}, {"driver", "ditto.csi.dev"}};
    if (!label.empty()) object["metadata"]["labels"][kManagedByLabel] = label;
    api_->gets[fmt::format("/apis/groupsnapshot.storage.k8s.io/{}/volumegroupsnapshotclasses/{}",
                           version, name)] = ApiResponse{200, object.dump()};
  }
  std::vector<std::string> Patches() const {
    std::lock_guard lock(api_->mu);
    std::vector<std::string> patches;
    for (const auto& request : api_->requests) {
      if (request.rfind("PATCH ", 0) == 0) patches.push_back(request);
    }
    return patches;
  }

  size_t Requests() const {
    std::lock_guard lock(api_->mu);
    return api_->requests.size();
  }

  std::shared_ptr<FakeApi::Shared> api_ = std::make_shared<FakeApi::Shared>();
  const std::string here_ = NodeTag("node-a");
  const std::string there_ = NodeTag("node-b");
};

TEST_F(SnapshotContentLabelsTest, LabelsTheContentsOfThisNodesVolumesOnly) {
  Serve("v1", {Content("mine", "ditto.csi.dev", {NewVolumeId(here_), NewVolumeId(here_)}),
               Content("theirs", "ditto.csi.dev", {NewVolumeId(there_)}),
               Content("spread", "ditto.csi.dev", {NewVolumeId(here_), NewVolumeId(there_)}),
               Content("untagged", "ditto.csi.dev", {NewVolumeId()}),
               Content("other-driver", "hostpath.csi.k8s.io", {NewVolumeId(here_)})});
  ServeClass("v1", "ditto", "node-a");
  auto labeler = Labeler();
  auto labelled = labeler->LabelOnce();
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_EQ(*labelled, 1);
  EXPECT_THAT(Patches(),
              ElementsAre("PATCH /apis/groupsnapshot.storage.k8s.io/v1/volumegroupsnapshotcontents/"
                          "mine "
                          R"({"metadata":{"labels":{"snapshot.storage.kubernetes.io/managed-by":"node-a"}}})"));
}

TEST_F(SnapshotContentLabelsTest, APreProvisionedContentIsLabelledByItsMemberSnapshots) {
  nlohmann::json content = {
      {"metadata", {{"name", "imported"}}},
      {"spec",
       {{"driver", "ditto.csi.dev"},
        {"source",
         {{"groupSnapshotHandles",
           {{"volumeGroupSnapshotHandle", NewGroupSnapshotId()},
            {"volumeSnapshotHandles", {NewSnapshotId(here_), NewSnapshotId(here_)}}}}}}}}};
  Serve("v1", {content});
  auto labelled = Labeler()->LabelOnce();
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_EQ(*labelled, 1);
}

// The snapshot-controller labels the contents it makes of a claim's volume,
// never one an administrator creates for an existing snapshot handle: those
// of this node are labelled here, by their snapshot's tag.
TEST_F(SnapshotContentLabelsTest, LabelsPreProvisionedSnapshotContentsOfThisNode) {
  ServeSnapshotContents({SnapshotContent("imported", "ditto.csi.dev", NewSnapshotId(here_)),
                         SnapshotContent("elsewhere", "ditto.csi.dev", NewSnapshotId(there_)),
                         SnapshotContent("untagged", "ditto.csi.dev", NewSnapshotId()),
                         SnapshotContent("other-driver", "hostpath.csi.k8s.io",
                                         NewSnapshotId(here_)),
                         SnapshotContent("of-a-volume", "ditto.csi.dev", "", NewVolumeId(here_)),
                         SnapshotContent("no-source", "ditto.csi.dev", "")});
  Serve("v1", {});
  auto labelled = Labeler()->LabelOnce();
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_EQ(*labelled, 2);
  const std::string label =
      R"({"metadata":{"labels":{"snapshot.storage.kubernetes.io/managed-by":"node-a"}}})";
  EXPECT_THAT(Patches(), ElementsAre(fmt::format("PATCH {}/imported {}", kSnapshotContents, label),
                                     fmt::format("PATCH {}/of-a-volume {}", kSnapshotContents,
                                                 label)));
}

// Without the group snapshot CRDs the VolumeSnapshotContents are still
// labelled, and the other way round; the pass reports what is missing.
TEST_F(SnapshotContentLabelsTest, OneKindMissingDoesNotStopTheOther) {
  ServeSnapshotContents({SnapshotContent("imported", "ditto.csi.dev", NewSnapshotId(here_))});
  auto labelled = Labeler()->LabelOnce();
  EXPECT_EQ(labelled.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Patches(), ElementsAre(HasSubstr("/volumesnapshotcontents/imported ")));

  api_->gets.clear();
  api_->requests.clear();
  Serve("v1", {Content("mine", "ditto.csi.dev", {NewVolumeId(here_)})});
  labelled = Labeler()->LabelOnce();
  EXPECT_EQ(labelled.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(labelled.status().message()),
              HasSubstr("install the snapshot CRDs of external-snapshotter"));
  EXPECT_THAT(Patches(), ElementsAre(HasSubstr("/volumegroupsnapshotcontents/mine ")));
}

TEST_F(SnapshotContentLabelsTest, UsesTheNewestServedVersionAndKeepsIt) {
  Serve("v1beta2", {Content("mine", "ditto.csi.dev", {NewVolumeId(here_)})});
  auto labeler = Labeler();
  ASSERT_EQ(labeler->LabelOnce().value_or(-1), 1);
  ASSERT_EQ(labeler->LabelOnce().value_or(-1), 1);
  std::vector<std::string> gets;
  for (const auto& request : api_->requests) {
    if (request.find("volumegroupsnapshotcontents?") != std::string::npos) gets.push_back(request);
  }
  std::string v1 = "GET " + fmt::format(kContents, "v1") + kQuery;
  std::string v1beta2 = "GET " + fmt::format(kContents, "v1beta2") + kQuery;
  EXPECT_THAT(gets, ElementsAre(v1, v1beta2, v1beta2)) << "v1 asked once, then v1beta2 kept";
  EXPECT_THAT(Patches()[0], HasSubstr("/v1beta2/volumegroupsnapshotcontents/mine "));
}

TEST_F(SnapshotContentLabelsTest, NoGroupSnapshotCrdsSaysWhatToInstall) {
  auto labelled = Labeler()->LabelOnce();
  EXPECT_EQ(labelled.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(labelled.status().message()), HasSubstr("install the group snapshot CRDs"));
  EXPECT_THAT(Patches(), IsEmpty());
}

TEST_F(SnapshotContentLabelsTest, AMissingPermissionNamesTheClusterRole) {
  api_->gets[fmt::format(kContents, "v1") + kQuery] =
      ApiResponse{403, R"({"kind":"Status","message":"volumegroupsnapshotcontents is forbidden"})"};
  auto listed = Labeler()->LabelOnce();
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(listed.status().message()), HasSubstr("ditto-node-snapshot-labels"));
  EXPECT_THAT(std::string(listed.status().message()), HasSubstr("is forbidden"));

  Serve("v1", {Content("mine", "ditto.csi.dev", {NewVolumeId(here_)})});
  api_->patch_status = 403;
  auto patched = Labeler()->LabelOnce();
  EXPECT_EQ(patched.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(patched.status().message()), HasSubstr("label VolumeGroupSnapshotContent mine"));
}

TEST_F(SnapshotContentLabelsTest, AContentDeletedSinceTheListIsNoError) {
  Serve("v1", {Content("gone", "ditto.csi.dev", {NewVolumeId(here_)})});
  api_->patch_status = 404;
  auto labelled = Labeler()->LabelOnce();
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_EQ(*labelled, 0);
}

TEST_F(SnapshotContentLabelsTest, TheClassIsCheckedOncePerName) {
  Serve("v1", {Content("one", "ditto.csi.dev", {NewVolumeId(here_)}, "shared"),
               Content("two", "ditto.csi.dev", {NewVolumeId(here_)}, "shared")});
  ServeClass("v1", "shared", "node-b");
  auto labeler = Labeler();
  ASSERT_EQ(labeler->LabelOnce().value_or(-1), 2);
  ASSERT_EQ(labeler->LabelOnce().value_or(-1), 2);
  int class_reads = 0;
  for (const auto& request : api_->requests) {
    if (request.find("volumegroupsnapshotclasses/shared") != std::string::npos) ++class_reads;
  }
  EXPECT_EQ(class_reads, 1);
}

TEST_F(SnapshotContentLabelsTest, StartedItLabelsUntilStopped) {
  Serve("v1", {Content("mine", "ditto.csi.dev", {NewVolumeId(here_)})});
  auto labeler = Labeler();
  labeler->Start(std::chrono::milliseconds(1));
  for (int i = 0; i < 2000 && Patches().size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  labeler->Stop();
  size_t after_stop = Requests();
  EXPECT_GE(Patches().size(), 2u) << "the content (unlabelled in this fake) is labelled each pass";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Requests(), after_stop);
}

}  // namespace
}  // namespace ditto::kube
