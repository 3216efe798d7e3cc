#include "peer/kubernetes_peers.h"

#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ditto::peer {
namespace {

// resourceVersion=0: served from the API server's cache, not from etcd.
constexpr char kNodesPath[] = "/api/v1/nodes?resourceVersion=0";

Status FromHttpStatus(const kube::ApiResponse& response, const std::string& server) {
  std::string message = kube::ApiMessage(response.body);
  switch (response.status) {
    case 401:
      return absl::UnauthenticatedError(fmt::format(
          "the Kubernetes API server {} refused dittod's service account token (401: {}); check "
          "that the pod mounts a current token (automountServiceAccountToken)",
          server, message));
    case 403:
      return absl::PermissionDeniedError(fmt::format(
          "dittod's service account may not list Nodes (403 from {}: {}); grant it get, list "
          "and watch on nodes (apiGroups [\"\"]), as the ClusterRole ditto-node-peers in "
          "deploy/kubernetes/rbac.yaml does",
          server, message));
    default:
      return absl::UnavailableError(fmt::format(
          "the Kubernetes API server {} answered GET {} with HTTP {}: {}; peers are looked up "
          "again on the next request",
          server, kNodesPath, response.status, message));
  }
}

}  // namespace

KubernetesPeers::KubernetesPeers(std::unique_ptr<kube::KubernetesApi> api, PeerMap overrides,
                                 KubernetesPeersOptions options)
    : api_(std::move(api)),
      overrides_(std::move(overrides)),
      options_(std::move(options)),
      self_tag_(NodeTag(overrides_.self())) {}

StatusOr<KubernetesPeers::Listing> KubernetesPeers::List() {
  ASSIGN_OR_RETURN(kube::ApiResponse response, api_->Get(kNodesPath));
  if (response.status != 200) return FromHttpStatus(response, api_->Server());
  auto json = nlohmann::json::parse(response.body, nullptr, false);
  if (!json.is_object() || !json.contains("items") || !json["items"].is_array()) {
    return absl::UnavailableError(fmt::format(
        "the Kubernetes API server {} answered GET {} with something that is not a NodeList; "
        "check that KUBERNETES_SERVICE_HOST names the API server",
        api_->Server(), kNodesPath));
  }
  Listing listing;
  try {
    ParseNodes(json["items"], listing);
  } catch (const nlohmann::json::exception& e) {
    return absl::UnavailableError(fmt::format(
        "the NodeList from the Kubernetes API server {} has an unexpected shape ({}); check "
        "that the server is a Kubernetes API server",
        api_->Server(), e.what()));
  }
  return listing;
}

void KubernetesPeers::ParseNodes(const nlohmann::json& items, Listing& listing) const {
  for (const auto& item : items) {
    if (!item.is_object()) continue;
    const auto name = item.value(nlohmann::json::json_pointer("/metadata/name"), std::string());
    if (name.empty() || name == self()) continue;
    std::string tag = NodeTag(name);
    listing.nodes_by_tag[tag].push_back(name);
    if (tag == self_tag_) {
      listing.unusable[name] = fmt::format(
          "its name has the same ID tag ({}) as this node {}, so volume IDs cannot tell them "
          "apart; rename one of the nodes",
          tag, self());
      continue;
    }
    std::string address;
    const auto addresses = item.value(nlohmann::json::json_pointer("/status/addresses"),
                                      nlohmann::json::array());
    for (const auto& entry : addresses) {
      if (entry.is_object() && entry.value("type", "") == "InternalIP") {
        address = entry.value("address", "");
        if (!address.empty()) break;
      }
    }
    if (address.empty()) {
      listing.unusable[name] = "its Node object lists no InternalIP in status.addresses";
      continue;
    }
    PeerAddress peer;
    peer.node_id = name;
    peer.host = address;
    peer.port = options_.peer_port;
    peer.tag = tag;
    listing.by_node[name] = std::move(peer);
  }
}

Status KubernetesPeers::ListNow() {
  last_attempt_ = options_.now();
  auto listed = List();
  last_error_ = listed.status();
  if (!listed.ok()) {
    spdlog::warn("peer discovery: {}", std::string(listed.status().message()));
    return listed.status();
  }
  for (const auto& [name, why] : listed->unusable) {
    spdlog::warn("peer discovery: node {} cannot serve copies: {}", name, why);
  }
  listing_ = std::move(*listed);
  listed_at_ = *last_attempt_;
  return absl::OkStatus();
}

Status KubernetesPeers::Update(bool on_miss) {
  auto now = options_.now();
  bool stale = !listing_ || now - listed_at_ >= options_.max_age;
  if (!stale && !on_miss) return absl::OkStatus();
  bool allowed = !last_attempt_ || now - *last_attempt_ >= options_.min_refresh_interval;
  Status status = allowed ? ListNow() : last_error_;
  if (status.ok()) return status;
  // An old listing still answers for the nodes it knows.
  if (listing_ && !on_miss) return absl::OkStatus();
  return status;
}

StatusOr<std::optional<PeerAddress>> KubernetesPeers::HolderOfTag(const std::string& tag) {
  auto nodes = listing_->nodes_by_tag.find(tag);
  if (nodes == listing_->nodes_by_tag.end()) return std::nullopt;
  if (nodes->second.size() > 1) {
    return absl::FailedPreconditionError(fmt::format(
        "nodes {} share the ID tag {}: volume IDs cannot tell which one holds a volume; "
        "rename all but one of them",
        fmt::join(nodes->second, ", "), tag));
  }
  return NodeNamed(nodes->second.front());
}

StatusOr<std::optional<PeerAddress>> KubernetesPeers::NodeNamed(std::string_view node_id) {
  auto unusable = listing_->unusable.find(node_id);
  if (unusable != listing_->unusable.end()) {
    return absl::FailedPreconditionError(
        fmt::format("node {} cannot serve copies: {}", node_id, unusable->second));
  }
  auto found = listing_->by_node.find(node_id);
  if (found == listing_->by_node.end()) return std::nullopt;
  return found->second;
}

StatusOr<std::optional<PeerAddress>> KubernetesPeers::HolderOf(std::string_view id) {
  std::string tag = TagOfId(id);
  if (tag.empty() || tag == self_tag_) return std::nullopt;
  if (const PeerAddress* fixed = overrides_.HolderOf(id)) return *fixed;
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Update(/*on_miss=*/false));
  ASSIGN_OR_RETURN(auto holder, HolderOfTag(tag));
  if (holder) return holder;
  RETURN_IF_ERROR(Update(/*on_miss=*/true));
  return HolderOfTag(tag);
}

StatusOr<std::optional<PeerAddress>> KubernetesPeers::Find(std::string_view node_id) {
  if (node_id == self()) return std::nullopt;
  if (const PeerAddress* fixed = overrides_.Find(node_id)) return *fixed;
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Update(/*on_miss=*/false));
  ASSIGN_OR_RETURN(auto node, NodeNamed(node_id));
  if (node) return node;
  RETURN_IF_ERROR(Update(/*on_miss=*/true));
  return NodeNamed(node_id);
}

StatusOr<size_t> KubernetesPeers::Refresh() {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(ListNow());
  return listing_->by_node.size();
}

std::string KubernetesPeers::Describe() const {
  return fmt::format("peers from the Node objects of {} (port {}), {} from --peer first",
                     api_->Server(), options_.peer_port, overrides_.peers().size());
}

}  // namespace ditto::peer
