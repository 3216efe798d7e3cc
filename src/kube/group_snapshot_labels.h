// Group snapshots of node-local volumes on Kubernetes. With distributed
// snapshotting (csi-snapshotter --node-deployment, one beside each node's
// dittod), external-snapshotter's csi-snapshotter sees only the
// VolumeGroupSnapshotContents and VolumeGroupSnapshotClasses labelled
// snapshot.storage.kubernetes.io/managed-by=<its node>. The
// snapshot-controller sets that label on the VolumeSnapshotContents it makes
// (from the volume's node affinity) but never on a VolumeGroupSnapshotContent,
// so no csi-snapshotter would ever act on a group snapshot.
//
// GroupSnapshotLabeler does it for this driver: every
// VolumeGroupSnapshotContent of `driver` without the label whose volumes (or,
// pre-provisioned, whose member snapshots) are all held by node `node` (their
// IDs carry its tag, common/ids.h) gets the label `node`. A content whose
// class is not visible to this node's csi-snapshotter is logged once with the
// command that makes it so. The service account needs get, list and patch on
// volumegroupsnapshotcontents and get on volumegroupsnapshotclasses
// (deploy/kubernetes/rbac.yaml, ClusterRole ditto-node-group-snapshots).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include <nlohmann/json_fwd.hpp>
#include "common/status.h"
#include "kube/kubernetes_api.h"

namespace ditto::kube {

inline constexpr char kManagedByLabel[] = "snapshot.storage.kubernetes.io/managed-by";

class GroupSnapshotLabeler {
 public:
  GroupSnapshotLabeler(std::unique_ptr<KubernetesApi> api, std::string driver, std::string node);
  ~GroupSnapshotLabeler();

  // One pass (not to be called while started): lists the unlabelled VolumeGroupSnapshotContents and labels
  // this node's. The number labelled; the first error (the others are still
  // tried). The API version is the newest the cluster serves (v1, v1beta2,
  // v1beta1); NotFound when it serves none (no group snapshot CRDs).
  StatusOr<int> LabelOnce();

  // Runs LabelOnce every `interval` on a thread of its own until Stop (or
  // destruction); errors are logged, once per distinct message.
  void Start(std::chrono::milliseconds interval);
  void Stop();

 private:
  StatusOr<ApiResponse> ListUnlabelled();
  // Whether every handle of the content `item` is held by this node.
  bool Holds(const nlohmann::json& item) const;
  // Logs (once per class) when `class_name` does not carry this node's label.
  void CheckClass(const std::string& class_name);

  const std::unique_ptr<KubernetesApi> api_;
  const std::string driver_;
  const std::string node_;
  const std::string tag_;
  std::string version_;  // the served API version, found on the first list
  std::set<std::string> classes_checked_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ditto::kube
