#include "peer/peer_directory.h"

#include "fmt/format.h"

namespace ditto::peer {

StatusOr<std::optional<PeerAddress>> StaticPeerDirectory::HolderOf(std::string_view id) {
  const PeerAddress* holder = map_.HolderOf(id);
  if (holder == nullptr) return std::nullopt;
  return *holder;
}

StatusOr<std::optional<PeerAddress>> StaticPeerDirectory::Find(std::string_view node_id) {
  const PeerAddress* peer = map_.Find(node_id);
  if (peer == nullptr) return std::nullopt;
  return *peer;
}

std::string StaticPeerDirectory::Describe() const {
  return fmt::format("{} peer(s) from --peer", map_.peers().size());
}

}  // namespace ditto::peer
