#include "peer/image_service.h"

#include <algorithm>

#include "common/ids.h"
#include "fmt/format.h"
#include "peer/chunks.h"
#include "peer/tls.h"
#include "spdlog/spdlog.h"

namespace ditto::peer {
namespace {

grpc::Status ToGrpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

uint64_t DataBytes(const std::vector<pool::DeltaRange>& delta) {
  uint64_t bytes = 0;
  for (const auto& range : delta) {
    if (!range.zero) bytes += range.length;
  }
  return bytes;
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
    found.volume_id = id;
    found.image.set_size_bytes(volume.capacity_bytes);
    found.image.set_mode_hint(volume.mode_hint);
    found.image.set_fs_type(volume.fs_type);
  } else if (IsValidSnapshotId(id)) {
    ASSIGN_OR_RETURN(auto snapshot, pool_.GetSnapshot(id));
    found.path = pool_.SnapshotPath(id);
    found.volume_id = snapshot.source_volume_id;
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

StatusOr<std::vector<pool::DeltaRange>> ImageService::Delta(const Found& found,
                                                            const std::string& base_id) {
  auto refuse = [&](std::string why) {
    return absl::FailedPreconditionError(fmt::format(
        "no delta of {} from {} on this node: {}; copy the whole image", found.image.id(),
        base_id.substr(0, 80), why));
  };
  if (!IsValidSnapshotId(base_id)) return refuse("the base is not a snapshot ID");
  if (!pool_.reflink()) {
    return refuse("this pool's snapshots do not share blocks with their volume");
  }
  auto base = pool_.GetSnapshot(base_id);
  if (!base.ok()) {
    if (absl::IsNotFound(base.status())) return refuse("the base snapshot no longer exists");
    return base.status();
  }
  if (base->source_volume_id != found.volume_id) {
    return refuse(fmt::format("the base is a snapshot of volume {}, not of {}",
                              base->source_volume_id, found.volume_id));
  }
  if (static_cast<uint64_t>(base->size_bytes) > found.image.size_bytes()) {
    return refuse(fmt::format("the base ({} bytes) is larger than the image ({} bytes)",
                              base->size_bytes, found.image.size_bytes()));
  }
  ASSIGN_OR_RETURN(auto base_extents, pool_.host().Extents(pool_.SnapshotPath(base_id)));
  ASSIGN_OR_RETURN(auto extents, pool_.host().Extents(found.path));
  return pool::DeltaRanges(base_extents, extents, found.image.size_bytes());
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
  // The candidate with the smallest delta; the newest ones first.
  std::string reasons;
  int looked_at = 0;
  for (auto it = request->base_candidates().rbegin();
       it != request->base_candidates().rend() && looked_at < kMaxBaseCandidates;
       ++it, ++looked_at) {
    auto delta = Delta(*found, *it);
    if (!delta.ok()) {
      if (!reasons.empty()) reasons += "; ";
      reasons += std::string(delta.status().message());
      continue;
    }
    uint64_t bytes = DataBytes(*delta);
    if (found->image.base_id().empty() || bytes < found->image.delta_bytes()) {
      found->image.set_base_id(*it);
      found->image.set_delta_bytes(bytes);
    }
  }
  if (found->image.base_id().empty() && !reasons.empty()) {
    found->image.set_no_base_reason(reasons.substr(0, 2000));
  }
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
  std::vector<pool::DeltaRange> ranges;
  if (request->base_id().empty()) {
    auto extents = pool_.host().Extents(found->path);
    if (!extents.ok()) return ToGrpc(extents.status());
    for (const auto& range : pool::AllocatedRanges(*extents, size)) {
      ranges.push_back({range.offset, range.length, /*zero=*/false});
    }
  } else {
    auto delta = Delta(*found, request->base_id());
    if (!delta.ok()) {
      spdlog::warn("peer: {} asked for {}: {}", *client, request->id(),
                   std::string(delta.status().message()));
      return ToGrpc(delta.status());
    }
    ranges = std::move(*delta);
  }
  ranges = pool::RangesFrom(ranges, request->offset());
  if (request->base_id().empty()) {
    spdlog::info("peer: sending {} to {} from offset {}", request->id(), *client,
                 request->offset());
  } else {
    spdlog::info("peer: sending {} to {} from offset {}: the changes since {} ({} to write)",
                 request->id(), *client, request->offset(), request->base_id(),
                 DataBytes(ranges));
  }
  uint64_t sent = 0;
  for (const auto& range : ranges) {
    if (range.zero) {
      v1::ImageChunk message;
      message.set_offset(range.offset);
      message.set_zero_length(range.length);
      message.set_sha256(ZeroRangeSha256(range.offset, range.length));
      if (!writer->Write(message)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "the reader went away");
      }
      continue;
    }
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
