// The peer directory of a cluster: every Node object is a node whose ditto
// node ID is its name (the DaemonSet passes spec.nodeName as --node-id) and
// whose node-to-node service listens on its InternalIP at the peer port (the
// same on every node: one DaemonSet). A volume's holder is the node whose
// name's tag (common/ids.h) its ID carries.
//
// The Nodes are listed (GET /api/v1/nodes, read-only: the service account
// needs get, list and watch on nodes) and kept; a lookup that finds nothing
// lists them again, at most once per `min_refresh_interval`, so a burst of
// IDs from an unknown node costs one list, not one per request. Entries of
// the static map (--peer) win over the Nodes. Thread-safe; one list runs at
// a time and lookups wait for it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include <nlohmann/json_fwd.hpp>
#include "kube/kubernetes_api.h"
#include "peer/peer_directory.h"

namespace ditto::peer {

struct KubernetesPeersOptions {
  int peer_port = 9811;
  // Lists made because a lookup missed are at least this far apart.
  std::chrono::steady_clock::duration min_refresh_interval = std::chrono::seconds(10);
  // A listing older than this is made again before it answers (a node's
  // address may change), keeping the old one if the API cannot be read.
  std::chrono::steady_clock::duration max_age = std::chrono::minutes(5);
  std::function<std::chrono::steady_clock::time_point()> now = std::chrono::steady_clock::now;
};

class KubernetesPeers final : public PeerDirectory {
 public:
  // The directory of node `self`: `overrides` first (its self must be
  // `self`), then the Nodes that `api` lists.
  KubernetesPeers(std::unique_ptr<kube::KubernetesApi> api, PeerMap overrides,
                  KubernetesPeersOptions options);

  const std::string& self() const override { return overrides_.self(); }
  StatusOr<std::optional<PeerAddress>> HolderOf(std::string_view id) override;
  StatusOr<std::optional<PeerAddress>> Find(std::string_view node_id) override;
  std::string Describe() const override;

  // Lists the Nodes now, whatever the interval (dittod does it once at start
  // so that a missing permission shows in its log at once). The number of
  // nodes other than this one that can be reached.
  StatusOr<size_t> Refresh();

 private:
  struct Listing {
    std::map<std::string, PeerAddress, std::less<>> by_node;
    std::map<std::string, std::vector<std::string>, std::less<>> nodes_by_tag;
    // Nodes listed that cannot be reached, and why.
    std::map<std::string, std::string, std::less<>> unusable;
  };

  StatusOr<Listing> List();
  // The nodes of a NodeList's items; throws nlohmann::json::exception on an
  // unexpected shape.
  void ParseNodes(const nlohmann::json& items, Listing& listing) const;
  // Makes sure the listing is usable: lists when there is none or it is older
  // than max_age (when allowed: `on_miss` or the age), keeping an old one on
  // an error.
  Status Update(bool on_miss) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ListNow() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  StatusOr<std::optional<PeerAddress>> HolderOfTag(const std::string& tag)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  StatusOr<std::optional<PeerAddress>> NodeNamed(std::string_view node_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<kube::KubernetesApi> api_;
  const PeerMap overrides_;
  const KubernetesPeersOptions options_;
  const std::string self_tag_;

  mutable std::mutex mu_;
  std::optional<Listing> listing_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point listed_at_ ABSL_GUARDED_BY(mu_);
  std::optional<std::chrono::steady_clock::time_point> last_attempt_ ABSL_GUARDED_BY(mu_);
  Status last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ditto::peer
