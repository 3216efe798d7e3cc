#include "peer/image_service.h"

#include <openssl/sha.h>

#include <algorithm>

#include "common/ids.h"
#include "fmt/format.h"
#include "peer/tls.h"
#include "pool/changed_blocks.h"
#include "spdlog/spdlog.h"

namespace ditto::peer {
namespace {

grpc::Status ToGrpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

std::string Sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace

StatusOr<std::string> ImageService::Authorize(const grpc::ServerContext& context,
                                              std::string_view method) {
  std::vector<std::string> names = ClientNames(context);
  for (const auto& name : names) {
    auto peer = peers_->Find(name);
    if (!peer.ok()) {
      spdlog::warn("peer: cannot tell whether {} from {} ({}) is a peer: {}", method,
                   context.peer(), name, std::string(peer.status().message()));
      return absl::UnavailableError(fmt::format(
          "this node cannot tell whether node {} is a peer: {}", name,
          std::string(peer.status().message())));
    }
    if (*peer) return name;
  }
  std::string shown = names.empty() ? "no verified certificate" : fmt::format("{}", fmt::join(names, ", "));
  spdlog::warn("peer: refused {} from {} ({}): its certificate names no known node (--peer or, with --peer-discovery=kubernetes, a Node)", method,
               context.peer(), shown);
  return absl::PermissionDeniedError(fmt::format(
      "this node serves only its peers (--peer, or the cluster's Nodes with "
      "--peer-discovery=kubernetes); the client certificate names {}",
      shown));
}

StatusOr<ImageService::Found> ImageService::Find(const std::string& id) {
  Found found;
  found.image.set_id(id);
  if (IsValidVolumeId(id)) {
    ASSIGN_OR_RETURN(auto volume, pool_.GetVolume(id));
    found.path = pool_.VolumePath(id);
    found.image.set_size_bytes(volume.capacity_bytes);
    found.image.set_mode_hint(volume.mode_hint);
    found.image.set_fs_type(volume.fs_type);
  } else if (IsValidSnapshotId(id)) {
    ASSIGN_OR_RETURN(auto snapshot, pool_.GetSnapshot(id));
    found.path = pool_.SnapshotPath(id);
    found.image.set_size_bytes(snapshot.size_bytes);
    // How the data is used, from its volume while that exists.
    auto volume = pool_.GetVolume(snapshot.source_volume_id);
    if (volume.ok()) {
      found.image.set_mode_hint(volume->mode_hint);
      found.image.set_fs_type(volume->fs_type);
    }
  } else {
    return absl::InvalidArgumentError(fmt::format(
        "\"{}\" is neither a volume nor a snapshot ID (vol- or snap- and 32 hex digits)",
        id.substr(0, 80)));
  }
  return found;
}

grpc::Status ImageService::GetImage(grpc::ServerContext* context,
                                    const v1::GetImageRequest* request, v1::Image* response) {
  auto client = Authorize(*context, "GetImage");
  if (!client.ok()) return ToGrpc(client.status());
  auto found = Find(request->id());
  if (!found.ok()) return ToGrpc(found.status());
  auto extents = pool_.host().Extents(found->path);
  if (!extents.ok()) return ToGrpc(extents.status());
  uint64_t data_bytes = 0;
  for (const auto& range : pool::AllocatedRanges(*extents, found->image.size_bytes())) {
    data_bytes += range.length;
  }
  found->image.set_data_bytes(data_bytes);
  *response = found->image;
  return grpc::Status::OK;
}

grpc::Status ImageService::ReadImage(grpc::ServerContext* context,
                                     const v1::ReadImageRequest* request,
                                     grpc::ServerWriter<v1::ImageChunk>* writer) {
  auto client = Authorize(*context, "ReadImage");
  if (!client.ok()) return ToGrpc(client.status());
  auto found = Find(request->id());
  if (!found.ok()) return ToGrpc(found.status());
  uint64_t size = found->image.size_bytes();
  if (request->offset() > size) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        fmt::format("offset {} is past the end of {} ({} bytes)",
                                    request->offset(), request->id(), size));
  }
  uint32_t chunk = request->chunk_bytes() == 0 ? kDefaultChunkBytes
                                               : std::clamp<uint32_t>(request->chunk_bytes(),
                                                                      4096, kMaxChunkBytes);
  auto extents = pool_.host().Extents(found->path);
  if (!extents.ok()) return ToGrpc(extents.status());
  auto ranges = pool::RangesFrom(pool::AllocatedRanges(*extents, size), request->offset());
  spdlog::info("peer: sending {} to {} from offset {}", request->id(), *client,
               request->offset());
  uint64_t sent = 0;
  for (const auto& range : ranges) {
    for (uint64_t at = range.offset; at < range.offset + range.length; at += chunk) {
      if (context->IsCancelled()) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "the reader went away");
      }
      uint64_t length = std::min<uint64_t>(chunk, range.offset + range.length - at);
      auto data = pool_.host().ReadAt(found->path, at, length);
      if (!data.ok()) return ToGrpc(data.status());
      v1::ImageChunk message;
      message.set_offset(at);
      message.set_sha256(Sha256(*data));
      message.set_data(std::move(*data));
      sent += length;
      if (!writer->Write(message)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "the reader went away");
      }
    }
  }
  v1::ImageChunk last;
  last.set_done(true);
  last.set_data_bytes(sent);
  writer->Write(last);
  spdlog::info("peer: sent {} bytes of {} to {}", sent, request->id(), *client);
  return grpc::Status::OK;
}

}  // namespace ditto::peer
