// The serving side of the node-to-node service (proto/peer.proto): lets the
// nodes of the peer map read the images of this node's volumes and
// snapshots, only their allocated ranges, each chunk with its SHA-256.
// Every call's client certificate must name a node of the peer directory (the
// --peer map, or the cluster's Nodes); any other is
// refused (PERMISSION_DENIED) and logged. Thread-safe.
#pragma once

#include <memory>

#include "peer.grpc.pb.h"
#include "peer/peer_directory.h"
#include "pool/changed_blocks.h"
#include "pool/pool.h"

namespace ditto::peer {

// Chunk sizes a reader may ask for; 0 asks for the default.
inline constexpr uint32_t kDefaultChunkBytes = 1u << 20;
inline constexpr uint32_t kMaxChunkBytes = 2u << 20;  // a message stays under gRPC's 4 MiB limit
// Base candidates of one GetImage that are looked at (the newest first).
inline constexpr int kMaxBaseCandidates = 16;

class ImageService final : public v1::Peer::Service {
 public:
  ImageService(pool::Pool& pool, std::shared_ptr<PeerDirectory> peers)
      : pool_(pool), peers_(std::move(peers)) {}

  grpc::Status GetImage(grpc::ServerContext* context, const v1::GetImageRequest* request,
                        v1::Image* response) override;
  grpc::Status ReadImage(grpc::ServerContext* context, const v1::ReadImageRequest* request,
                         grpc::ServerWriter<v1::ImageChunk>* writer) override;

 private:
  struct Found {
    std::string path;
    v1::Image image;
    std::string volume_id;  // its volume: itself, or the snapshot's source
  };
  // The node the call's certificate names, or PermissionDenied.
  StatusOr<std::string> Authorize(const grpc::ServerContext& context, std::string_view method);
  StatusOr<Found> Find(const std::string& id);
  // What turns a copy of snapshot `base_id` into `found` (changed_blocks.h);
  // FailedPrecondition, saying why, when it cannot be computed.
  StatusOr<std::vector<pool::DeltaRange>> Delta(const Found& found, const std::string& base_id);

  pool::Pool& pool_;
  std::shared_ptr<PeerDirectory> peers_;
};

}  // namespace ditto::peer
