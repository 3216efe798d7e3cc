#include "peer/peer_map.h"

#include <charconv>
#include <set>

#include "common/ids.h"
#include "fmt/format.h"

namespace ditto::peer {
namespace {

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == ':' || c == '_';
}

// Node IDs as Kubernetes names them (and CSI's NodeGetInfo allows): printable,
// no separators that the flag syntax uses.
Status ValidateNodeId(std::string_view node_id, std::string_view text) {
  if (node_id.empty() || node_id.size() > 128) {
    return absl::InvalidArgumentError(fmt::format(
        "--peer {}: the node ID must be 1 to 128 characters; use NODE=HOST:PORT", text));
  }
  for (char c : node_id) {
    if (c <= ' ' || c >= 0x7f || c == '=' || c == ',') {
      return absl::InvalidArgumentError(fmt::format(
          "--peer {}: the node ID contains a space, control character, '=' or ','", text));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string PeerAddress::Target() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

StatusOr<PeerAddress> ParseHostPort(std::string_view text, std::string_view field) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(
        fmt::format("{} \"{}\" is not HOST:PORT (e.g. 10.0.0.2:9811)", field, text.substr(0, 200)));
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  for (char c : host) {
    if (!IsHostChar(c)) {
      return absl::InvalidArgumentError(
          fmt::format("{} \"{}\": the host has a character a host name or address cannot have",
                      field, text.substr(0, 200)));
    }
  }
  std::string_view port_text = text.substr(colon + 1);
  int port = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
      port > 65535) {
    return absl::InvalidArgumentError(fmt::format(
        "{} \"{}\": the port must be a number from 1 to 65535", field, text.substr(0, 200)));
  }
  PeerAddress address;
  address.host = std::string(host);
  address.port = port;
  return address;
}

StatusOr<PeerAddress> ParsePeerFlag(std::string_view text) {
  size_t equals = text.find('=');
  if (equals == std::string_view::npos) {
    return absl::InvalidArgumentError(
        fmt::format("--peer \"{}\" is not NODE=HOST:PORT", text.substr(0, 200)));
  }
  std::string_view node_id = text.substr(0, equals);
  RETURN_IF_ERROR(ValidateNodeId(node_id, text.substr(0, 200)));
  ASSIGN_OR_RETURN(PeerAddress address, ParseHostPort(text.substr(equals + 1), "--peer"));
  address.node_id = std::string(node_id);
  address.tag = NodeTag(address.node_id);
  return address;
}

StatusOr<PeerMap> PeerMap::Make(const std::string& self_node_id, std::vector<PeerAddress> peers) {
  PeerMap map;
  map.self_ = self_node_id;
  std::string self_tag = NodeTag(self_node_id);
  std::set<std::string> nodes;
  for (auto& peer : peers) {
    if (peer.node_id == self_node_id) continue;
    if (!nodes.insert(peer.node_id).second) {
      return absl::InvalidArgumentError(
          fmt::format("--peer names node {} twice; give each node once", peer.node_id));
    }
    peer.tag = NodeTag(peer.node_id);
    if (peer.tag == self_tag) {
      return absl::InvalidArgumentError(fmt::format(
          "node {} has the same ID tag ({}) as this node {}: volume IDs could not tell them "
          "apart; rename one of the nodes",
          peer.node_id, peer.tag, self_node_id));
    }
    for (const auto& other : map.peers_) {
      if (other.tag == peer.tag) {
        return absl::InvalidArgumentError(fmt::format(
            "nodes {} and {} have the same ID tag ({}): volume IDs could not tell them apart; "
            "rename one of them",
            other.node_id, peer.node_id, peer.tag));
      }
    }
    map.peers_.push_back(std::move(peer));
  }
  return map;
}

const PeerAddress* PeerMap::HolderOf(std::string_view id) const {
  std::string tag = TagOfId(id);
  if (tag.empty()) return nullptr;
  for (const auto& peer : peers_) {
    if (peer.tag == tag) return &peer;
  }
  return nullptr;
}

const PeerAddress* PeerMap::Find(std::string_view node_id) const {
  for (const auto& peer : peers_) {
    if (peer.node_id == node_id) return &peer;
  }
  return nullptr;
}

}  // namespace ditto::peer
