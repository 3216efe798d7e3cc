// Where the other nodes are: which node holds a volume or snapshot (told by
// the tag its ID starts with, common/ids.h) and where a node serves the
// node-to-node service. Two implementations: StaticPeerDirectory, the
// --peer map, and KubernetesPeers (peer/kubernetes_peers.h), the cluster's
// Node objects. Implementations are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "peer/peer_map.h"

namespace ditto::peer {

class PeerDirectory {
 public:
  virtual ~PeerDirectory() = default;

  // This node's ID.
  virtual const std::string& self() const = 0;
  // The other node that made volume or snapshot `id`; nullopt when this node
  // made it, the ID carries no tag, or no node known has its tag. An error
  // (saying what to fix) when the directory could not be consulted.
  virtual StatusOr<std::optional<PeerAddress>> HolderOf(std::string_view id) = 0;
  // Another node by its ID; nullopt when no such node is known.
  virtual StatusOr<std::optional<PeerAddress>> Find(std::string_view node_id) = 0;
  // What the directory is, for the start-up log ("2 static peers").
  virtual std::string Describe() const = 0;
};

// The --peer map: a fixed set of nodes.
class StaticPeerDirectory final : public PeerDirectory {
 public:
  explicit StaticPeerDirectory(PeerMap map) : map_(std::move(map)) {}

  const std::string& self() const override { return map_.self(); }
  StatusOr<std::optional<PeerAddress>> HolderOf(std::string_view id) override;
  StatusOr<std::optional<PeerAddress>> Find(std::string_view node_id) override;
  std::string Describe() const override;

 private:
  const PeerMap map_;
};

}  // namespace ditto::peer
