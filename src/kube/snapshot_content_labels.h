// Snapshots of node-local volumes on Kubernetes. With distributed
// snapshotting (csi-snapshotter --node-deployment, one beside each node's
// dittod), external-snapshotter's csi-snapshotter sees only the
// VolumeSnapshotContents, VolumeGroupSnapshotContents and
// VolumeGroupSnapshotClasses labelled
// snapshot.storage.kubernetes.io/managed-by=<its node>. The
// snapshot-controller sets that label only on the VolumeSnapshotContents it
// makes for a VolumeSnapshot of a claim (from the volume's node affinity):
// never on a pre-provisioned VolumeSnapshotContent (one an administrator
// creates for an existing snapshot handle) nor on a
// VolumeGroupSnapshotContent, so no csi-snapshotter would ever act on those.
//
// SnapshotContentLabeler does it for this driver: every VolumeSnapshotContent
// and VolumeGroupSnapshotContent of `driver` without the label whose
// snapshot or volumes (or, for a pre-provisioned group, member snapshots) are
// all held by node `node` (their IDs carry its tag, common/ids.h) gets the
// label `node`. A group content whose class is not visible to this node's
// csi-snapshotter is logged once with the command that makes it so. The
// service account needs get, list and patch on volumesnapshotcontents and
// volumegroupsnapshotcontents and get on volumegroupsnapshotclasses
// (deploy/kubernetes/rbac.yaml, ClusterRole ditto-node-snapshot-labels).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include <nlohmann/json_fwd.hpp>
#include "common/status.h"
#include "kube/kubernetes_api.h"

namespace ditto::kube {

inline constexpr char kManagedByLabel[] = "snapshot.storage.kubernetes.io/managed-by";

class SnapshotContentLabeler {
 public:
  SnapshotContentLabeler(std::unique_ptr<KubernetesApi> api, std::string driver, std::string node);
  ~SnapshotContentLabeler();

  // One pass (not to be called while started): lists the unlabelled
  // VolumeSnapshotContents and VolumeGroupSnapshotContents and labels this
  // node's. The number labelled; the first error (the other contents and
  // the other kind are still tried). Each kind's API version is the newest
  // the cluster serves (VolumeSnapshotContents: v1; group contents: v1,
  // v1beta2, v1beta1); NotFound when it serves none (no CRDs).
  StatusOr<int> LabelOnce();

  // Runs LabelOnce every `interval` on a thread of its own until Stop (or
  // destruction); errors are logged, once per distinct message.
  void Start(std::chrono::milliseconds interval);
  void Stop();

  // One kind of content: where it is served and where its handles are.
  struct Kind {
    std::string api_group;              // "snapshot.storage.k8s.io"
    std::vector<std::string> versions;  // newest first
    std::string resource;               // "volumesnapshotcontents"
    std::string name;                   // "VolumeSnapshotContent", for messages
    bool group = false;                 // a group content (its class is checked)
    std::string version;                // the served version, found on the first list
  };

 private:
  // Labels this node's unlabelled contents of `kind`: how many.
  StatusOr<int> LabelKind(Kind& kind);
  StatusOr<ApiResponse> ListUnlabelled(Kind& kind);
  // Whether every handle of the content `item` is held by this node.
  bool Holds(const nlohmann::json& item) const;
  // Logs (once per class) when the group snapshot class `class_name` does
  // not carry this node's label.
  void CheckGroupClass(const Kind& kind, const std::string& class_name);

  const std::unique_ptr<KubernetesApi> api_;
  const std::string driver_;
  const std::string node_;
  const std::string tag_;
  std::vector<Kind> kinds_;
  std::set<std::string> classes_checked_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ditto::kube
