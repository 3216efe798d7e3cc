#include "kube/snapshot_content_labels.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "common/ids.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ditto::kube {
namespace {

// "!snapshot.storage.kubernetes.io/managed-by", URL-encoded; resourceVersion=0
// answers from the API server's cache.
constexpr char kUnlabelledQuery[] =
    "?labelSelector=%21snapshot.storage.kubernetes.io%2Fmanaged-by&resourceVersion=0";

Status FromHttp(const ApiResponse& response, const std::string& server, const std::string& what) {
  std::string message = ApiMessage(response.body);
  switch (response.status) {
    case 401:
      return absl::UnauthenticatedError(fmt::format(
          "the Kubernetes API server {} refused dittod's service account token to {} (401: {}); "
          "check that the pod mounts a current token (automountServiceAccountToken)",
          server, what, message));
    case 403:
      return absl::PermissionDeniedError(fmt::format(
          "dittod's service account may not {} (403 from {}: {}); grant it get, list and patch "
          "on volumesnapshotcontents (apiGroups [\"snapshot.storage.k8s.io\"]) and "
          "volumegroupsnapshotcontents and get on volumegroupsnapshotclasses "
          "(apiGroups [\"groupsnapshot.storage.k8s.io\"]), as the ClusterRole "
          "ditto-node-snapshot-labels in deploy/kubernetes/rbac.yaml does",
          what, server, message));
    case 404:
      return absl::NotFoundError(
          fmt::format("the Kubernetes API server {} has nothing to {} (404: {})", server, what,
                      message));
    default:
      return absl::UnavailableError(fmt::format(
          "the Kubernetes API server {} answered the request to {} with HTTP {}: {}; it is "
          "tried again on the next pass",
          server, what, response.status, message));
  }
}

// The string at `key` of `object`, or "" when absent or not a string.
std::string StringAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

SnapshotContentLabeler::SnapshotContentLabeler(std::unique_ptr<KubernetesApi> api,
                                               std::string driver, std::string node)
    : api_(std::move(api)),
      driver_(std::move(driver)),
      node_(std::move(node)),
      tag_(NodeTag(node_)),
      kinds_{Kind{"snapshot.storage.k8s.io", {"v1"}, "volumesnapshotcontents",
                  "VolumeSnapshotContent"},
             Kind{"groupsnapshot.storage.k8s.io", {"v1", "v1beta2", "v1beta1"},
                  "volumegroupsnapshotcontents", "VolumeGroupSnapshotContent", true}} {}

SnapshotContentLabeler::~SnapshotContentLabeler() { Stop(); }

namespace {
std::string Path(const SnapshotContentLabeler::Kind& kind, const std::string& version,
                 const std::string& rest) {
  return fmt::format("/apis/{}/{}/{}{}", kind.api_group, version, kind.resource, rest);
}
}  // namespace

StatusOr<ApiResponse> SnapshotContentLabeler::ListUnlabelled(Kind& kind) {
  if (!kind.version.empty()) {
    ASSIGN_OR_RETURN(ApiResponse response, api_->Get(Path(kind, kind.version, kUnlabelledQuery)));
    if (response.status != 404) return response;
    kind.version.clear();  // the CRDs changed: look again
  }
  for (const std::string& version : kind.versions) {
    ASSIGN_OR_RETURN(ApiResponse response, api_->Get(Path(kind, version, kUnlabelledQuery)));
    if (response.status == 404) continue;
    if (response.status == 200) kind.version = version;
    return response;
  }
  return absl::NotFoundError(fmt::format(
      "the Kubernetes API server {} serves no {}s ({} {}): install the {}snapshot CRDs of "
      "external-snapshotter to take {}snapshots",
      api_->Server(), kind.name, kind.api_group, absl::StrJoin(kind.versions, ", "),
      kind.group ? "group " : "", kind.group ? "group " : ""));
}

bool SnapshotContentLabeler::Holds(const nlohmann::json& item) const {
  const nlohmann::json* source = nullptr;
  if (auto spec = item.find("spec"); spec != item.end() && spec->is_object()) {
    if (auto it = spec->find("source"); it != spec->end() && it->is_object()) source = &*it;
  }
  if (source == nullptr) return false;
  std::vector<std::string> handles;
  auto add_all = [&handles](const nlohmann::json& array) {
    for (const auto& handle : array) {
      handles.push_back(handle.is_string() ? handle.get<std::string>() : "");
    }
  };
  if (auto it = source->find("volumeHandles"); it != source->end() && it->is_array()) {
    add_all(*it);  // a group content made for VolumeGroupSnapshot
  } else if (auto group = source->find("groupSnapshotHandles");
             group != source->end() && group->is_object()) {
    if (auto it = group->find("volumeSnapshotHandles"); it != group->end() && it->is_array()) {
      add_all(*it);  // a pre-provisioned group content
    }
  } else if (std::string handle = StringAt(*source, "snapshotHandle"); !handle.empty()) {
    handles.push_back(handle);  // a pre-provisioned VolumeSnapshotContent
  } else if (std::string volume = StringAt(*source, "volumeHandle"); !volume.empty()) {
    handles.push_back(volume);  // a VolumeSnapshotContent to be made of a volume
  }
  if (handles.empty()) return false;
  for (const auto& handle : handles) {
    if (handle.empty() || TagOfId(handle) != tag_) return false;
  }
  return true;
}

void SnapshotContentLabeler::CheckGroupClass(const Kind& kind, const std::string& class_name) {
  if (class_name.empty() || !classes_checked_.insert(class_name).second) return;
  auto answer = api_->Get(fmt::format("/apis/{}/{}/volumegroupsnapshotclasses/{}", kind.api_group,
                                      kind.version, class_name));
  if (!answer.ok() || answer->status != 200) return;  // the snapshotter reports it
  auto json = nlohmann::json::parse(answer->body, nullptr, false);
  std::string label;
  if (json.is_object() && json.contains("metadata") && json["metadata"].is_object()) {
    label = StringAt(json["metadata"].value("labels", nlohmann::json::object()), kManagedByLabel);
  }
  if (label == node_) return;
  spdlog::warn(
      "group snapshots: the VolumeGroupSnapshotClass {} is labelled {}={}, so the "
      "csi-snapshotter on node {} cannot read it and the group snapshots of this node that "
      "name it wait; give each node a class of its own (on a one-node cluster, the class "
      "itself): kubectl label volumegroupsnapshotclass {} {}={} --overwrite",
      class_name, kManagedByLabel, label.empty() ? "(none)" : label, node_, class_name,
      kManagedByLabel, node_);
}

StatusOr<int> SnapshotContentLabeler::LabelOnce() {
  int labelled = 0;
  Status first_error;
  for (Kind& kind : kinds_) {
    auto count = LabelKind(kind);
    if (count.ok()) {
      labelled += *count;
    } else if (first_error.ok()) {
      first_error = count.status();
    }
  }
  if (!first_error.ok()) return first_error;
  return labelled;
}

StatusOr<int> SnapshotContentLabeler::LabelKind(Kind& kind) {
  ASSIGN_OR_RETURN(ApiResponse response, ListUnlabelled(kind));
  if (response.status != 200) {
    return FromHttp(response, api_->Server(), "list " + kind.resource);
  }
  auto json = nlohmann::json::parse(response.body, nullptr, false);
  if (!json.is_object() || !json.contains("items") || !json["items"].is_array()) {
    return absl::UnavailableError(fmt::format(
        "the Kubernetes API server {} answered the list of {}s with something that is not a "
        "list; check that KUBERNETES_SERVICE_HOST names the API server",
        api_->Server(), kind.name));
  }
  int labelled = 0;
  Status first_error;
  const std::string patch =
      nlohmann::json{{"metadata", {{"labels", {{kManagedByLabel, node_}}}}}}.dump();
  for (const auto& item : json["items"]) {
    if (!item.is_object() || !Holds(item)) continue;
    const nlohmann::json& spec = item["spec"];
    if (StringAt(spec, "driver") != driver_) continue;
    std::string name = StringAt(item.value("metadata", nlohmann::json::object()), "name");
    if (name.empty()) continue;
    auto patched = api_->Patch(Path(kind, kind.version, "/" + name), patch);
    Status status = patched.ok() ? (patched->status == 200
                                        ? Status()
                                        : FromHttp(*patched, api_->Server(),
                                                   "label " + kind.name + " " + name))
                                 : patched.status();
    if (!status.ok()) {
      // Deleted since the list: nothing to do.
      if (!absl::IsNotFound(status) && first_error.ok()) first_error = status;
      continue;
    }
    ++labelled;
    spdlog::info("snapshots: labelled {} {} {}={}", kind.name, name, kManagedByLabel, node_);
    if (kind.group) CheckGroupClass(kind, StringAt(spec, "volumeGroupSnapshotClassName"));
  }
  if (!first_error.ok()) return first_error;
  return labelled;
}

void SnapshotContentLabeler::Start(std::chrono::milliseconds interval) {
  Stop();
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this, interval] {
    std::string last_error;
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      auto labelled = LabelOnce();
      std::string error = labelled.ok() ? "" : std::string(labelled.status().message());
      if (error != last_error) {
        if (error.empty()) {
          spdlog::info("snapshots: the snapshot contents can be read again");
        } else {
          spdlog::error("snapshots: {}", error);
        }
        last_error = error;
      }
      lock.lock();
      wake_.wait_for(lock, interval, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_; });
    }
  });
}

void SnapshotContentLabeler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ditto::kube
