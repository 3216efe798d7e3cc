// Where the other nodes' dittod serve the node-to-node service, and which
// node holds a volume or snapshot, told by the tag its ID starts with
// (common/ids.h). Immutable once made; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ditto::peer {

struct PeerAddress {
  std::string node_id;
  std::string host;  // a name or an IPv4 address, or an IPv6 one without brackets
  int port = 0;
  std::string tag;   // NodeTag(node_id)

  // "HOST:PORT" ("[HOST]:PORT" for IPv6), as gRPC takes it.
  std::string Target() const;
};

// "NODE=HOST:PORT" (dittod --peer). InvalidArgument saying what is wrong.
StatusOr<PeerAddress> ParsePeerFlag(std::string_view text);
// "HOST:PORT" (dittod --peer-listen); `field` names the flag in messages.
StatusOr<PeerAddress> ParseHostPort(std::string_view text, std::string_view field);

class PeerMap {
 public:
  // The map of node `self_node_id` (its own entry, if listed, is dropped).
  // InvalidArgument when a node is listed twice or two nodes (this one
  // included) share a tag: their IDs could not be told apart.
  static StatusOr<PeerMap> Make(const std::string& self_node_id, std::vector<PeerAddress> peers);

  // The other node that made volume or snapshot `id`, or nullptr when it is
  // this node's (its own tag, a tag of no known node, an ID without a tag).
  const PeerAddress* HolderOf(std::string_view id) const;
  // The peer named `node_id`, or nullptr.
  const PeerAddress* Find(std::string_view node_id) const;

  const std::string& self() const { return self_; }
  const std::vector<PeerAddress>& peers() const { return peers_; }

 private:
  std::string self_;
  std::vector<PeerAddress> peers_;
};

}  // namespace ditto::peer
