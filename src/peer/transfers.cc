#include "peer/transfers.h"

#include "common/ids.h"
#include "common/quantity.h"
#include "fmt/format.h"
#include "peer.grpc.pb.h"
#include "peer/chunks.h"
#include "spdlog/spdlog.h"

namespace ditto::peer {
namespace {

// Verified chunks are gathered into writes of up to this many bytes (each
// write is followed by an fsync).
constexpr size_t kWriteBytes = 8u << 20;
constexpr auto kProgressLogInterval = std::chrono::seconds(5);
constexpr auto kDescribeDeadline = std::chrono::seconds(10);

Status FromGrpc(const grpc::Status& status, const PeerAddress& node, std::string_view what) {
  auto code = static_cast<absl::StatusCode>(status.error_code());
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::UnavailableError(
        fmt::format("cannot {} on node {} at {}: {}; it is retried when CreateVolume is", what,
                    node.node_id, node.Target(), status.error_message()));
  }
  return Status(code, fmt::format("node {} answered {} with: {}", node.node_id, what,
                                  status.error_message()));
}

// Failures a later attempt may get past: the connection, the other node's
// process, a corrupt chunk.
bool Retryable(const Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

std::string Rate(uint64_t bytes, std::chrono::steady_clock::duration elapsed) {
  double seconds = std::chrono::duration<double>(elapsed).count();
  if (seconds <= 0) return "-";
  return HumanBytes(static_cast<uint64_t>(bytes / seconds)) + "/s";
}

}  // namespace

Transfers::Transfers(pool::Pool& pool, TransferOptions options)
    : pool_(pool),
      options_(std::move(options)),
      credentials_(MakeChannelCredentials(options_.tls)) {}

Transfers::~Transfers() {
  std::vector<Transfer*> all;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [name, transfer] : transfers_) {
      if (transfer->call != nullptr) transfer->call->TryCancel();
      all.push_back(transfer.get());
    }
  }
  stop_cv_.notify_all();
  for (Transfer* transfer : all) {
    if (transfer->thread.joinable()) transfer->thread.join();
  }
}

StatusOr<std::optional<PeerAddress>> Transfers::HolderOf(std::string_view id) const {
  return options_.peers->HolderOf(id);
}

std::shared_ptr<grpc::Channel> Transfers::Dial(const PeerAddress& node) const {
  return grpc::CreateCustomChannel(node.Target(), credentials_,
                                   PeerChannelArguments(node.node_id));
}

StatusOr<RemoteImage> Transfers::Describe(const PeerAddress& node, const std::string& id) {
  {
    std::lock_guard lock(mu_);
    auto it = described_.find(id);
    if (it != described_.end()) return it->second;
  }
  auto stub = v1::Peer::NewStub(Dial(node));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDescribeDeadline);
  v1::GetImageRequest request;
  request.set_id(id);
  v1::Image image;
  grpc::Status status = stub->GetImage(&context, request, &image);
  if (!status.ok()) return FromGrpc(status, node, fmt::format("a question about {}", id));
  if (image.id() != id || image.size_bytes() == 0) {
    return absl::DataLossError(fmt::format(
        "node {} described {} as image \"{}\" of {} bytes; check that it runs this version",
        node.node_id, id, image.id(), image.size_bytes()));
  }
  RemoteImage remote{image.id(), image.size_bytes(), image.mode_hint(), image.fs_type(),
                     image.data_bytes()};
  std::lock_guard lock(mu_);
  described_[id] = remote;
  return remote;
}

std::string Transfers::Progress(const Transfer& transfer) const {
  uint64_t total = std::max(transfer.data_bytes, transfer.received);
  double percent = total == 0 ? 100.0 : 100.0 * transfer.received / total;
  std::string kind = !transfer.planned          ? "copy being planned"
                     : transfer.base_id.empty() ? "full copy"
                                                : "incremental copy, the changes since " +
                                                      transfer.base_origin;
  return fmt::format("{} of {} ({:.1f}%) at {}, {}", HumanBytes(transfer.received),
                     HumanBytes(total), percent,
                     Rate(transfer.received, std::chrono::steady_clock::now() - transfer.started),
                     kind);
}

void Transfers::Start(Transfer& transfer) {
  if (transfer.thread.joinable()) transfer.thread.join();
  transfer.phase = Phase::kRunning;
  transfer.thread = std::thread(&Transfers::Run, this, &transfer);
}

StatusOr<catalog::VolumeRecord> Transfers::CopyVolume(const pool::CreateVolumeSpec& spec,
                                                      const PeerAddress& node) {
  std::lock_guard lock(mu_);
  if (stopping_) return absl::UnavailableError("dittod is stopping; retry CreateVolume");
  auto it = transfers_.find(spec.name);
  if (it == transfers_.end()) {
    auto transfer = std::make_unique<Transfer>();
    transfer->spec = spec;
    transfer->node = node;
    transfer->volume_id = NewVolumeId(pool_.id_tag());
    transfer->started = std::chrono::steady_clock::now();
    auto described = described_.find(spec.source_id);
    if (described != described_.end()) transfer->data_bytes = described->second.data_bytes;
    Transfer& started = *transfer;
    transfers_[spec.name] = std::move(transfer);
    Start(started);
    spdlog::info("peer: copying {} from node {} into volume {} ({}) started: {} to move",
                 spec.source_id, node.node_id, started.volume_id, spec.name,
                 HumanBytes(started.data_bytes));
    return absl::AbortedError(fmt::format(
        "volume {} is being copied from {} on node {}: started, {} to move; retry CreateVolume "
        "to follow it",
        spec.name, spec.source_id, node.node_id, HumanBytes(started.data_bytes)));
  }
  Transfer& transfer = *it->second;
  if (transfer.spec.source_id != spec.source_id ||
      transfer.spec.capacity_bytes != spec.capacity_bytes) {
    return absl::AlreadyExistsError(fmt::format(
        "volume {} is being made as a copy of {} ({} bytes), not of {} ({} bytes); repeat the "
        "original request or use another name",
        spec.name, transfer.spec.source_id, transfer.spec.capacity_bytes, spec.source_id,
        spec.capacity_bytes));
  }
  switch (transfer.phase) {
    case Phase::kRunning:
      return absl::AbortedError(fmt::format(
          "volume {} is being copied from {} on node {}: {}; retry CreateVolume to follow it",
          spec.name, spec.source_id, node.node_id, Progress(transfer)));
    case Phase::kInterrupted: {
      std::string why(transfer.error.message());
      std::string progress = Progress(transfer);
      Start(transfer);
      return absl::UnavailableError(fmt::format(
          "the copy of {} from node {} into volume {} was interrupted ({}); resumed after {}",
          spec.source_id, node.node_id, spec.name, why, progress));
    }
    case Phase::kDone: {
      catalog::VolumeRecord volume = *transfer.volume;
      if (transfer.thread.joinable()) transfer.thread.join();
      transfers_.erase(it);
      return volume;
    }
    case Phase::kFailed: {
      Status error = transfer.error;
      if (transfer.thread.joinable()) transfer.thread.join();
      transfers_.erase(it);
      return Status(error.code(), fmt::format("copying {} from node {} into volume {} failed: {}",
                                              spec.source_id, node.node_id, spec.name,
                                              std::string(error.message())));
    }
  }
  return absl::InternalError("unknown transfer phase");
}

Status Transfers::Plan(Transfer& transfer) {
  {
    std::lock_guard lock(mu_);
    if (transfer.planned) return absl::OkStatus();
  }
  // The bases copied from the sending node, by origin (the newest of each).
  ASSIGN_OR_RETURN(auto copied, pool_.ListCopiedSnapshots());
  std::map<std::string, std::string> base_of_origin;
  v1::GetImageRequest request;
  request.set_id(transfer.spec.source_id);
  for (const auto& snapshot : copied) {
    ASSIGN_OR_RETURN(std::optional<PeerAddress> holder, options_.peers->HolderOf(snapshot.origin_id));
    if (!holder || holder->node_id != transfer.node.node_id) continue;
    if (base_of_origin.count(snapshot.origin_id) == 0) {
      request.add_base_candidates(snapshot.origin_id);  // oldest first
    }
    base_of_origin[snapshot.origin_id] = snapshot.id;
  }
  v1::Image image;
  if (request.base_candidates_size() > 0) {
    auto stub = v1::Peer::NewStub(Dial(transfer.node));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kDescribeDeadline);
    grpc::Status status = stub->GetImage(&context, request, &image);
    if (!status.ok()) {
      return FromGrpc(status, transfer.node,
                      fmt::format("a question about {}", transfer.spec.source_id));
    }
  }
  std::lock_guard lock(mu_);
  transfer.planned = true;
  auto base = base_of_origin.find(image.base_id());
  if (!image.base_id().empty() && base != base_of_origin.end()) {
    transfer.base_id = base->second;
    transfer.base_origin = image.base_id();
    transfer.data_bytes = image.delta_bytes();
    spdlog::info("peer: copying {} from node {} into volume {} is incremental: {} to move, the "
                 "changes since {} (copied here as {})",
                 transfer.spec.source_id, transfer.node.node_id, transfer.spec.name,
                 HumanBytes(transfer.data_bytes), transfer.base_origin, transfer.base_id);
  } else {
    spdlog::info("peer: copying {} from node {} into volume {} is a full copy: {} to move{}",
                 transfer.spec.source_id, transfer.node.node_id, transfer.spec.name,
                 HumanBytes(transfer.data_bytes),
                 request.base_candidates_size() == 0
                     ? ""
                     : fmt::format(" (no base serves: {})", image.no_base_reason()));
  }
  return absl::OkStatus();
}

void Transfers::Run(Transfer* transfer) {
  Status result = Plan(*transfer);
  if (result.ok()) result = Receive(*transfer);
  bool incremental = false;
  {
    std::lock_guard lock(mu_);
    incremental = !transfer->base_id.empty();
  }
  if (incremental && (absl::IsFailedPrecondition(result) || absl::IsNotFound(result) ||
                      absl::IsOutOfRange(result))) {
    // The sender cannot compute the delta any more: the whole image, from
    // an empty one.
    spdlog::warn("peer: copying {} from node {} into volume {}: {}; copying the whole image",
                 transfer->spec.source_id, transfer->node.node_id, transfer->spec.name,
                 std::string(result.message()));
    result = pool_.AbandonImport(transfer->volume_id);
    if (result.ok()) {
      {
        std::lock_guard lock(mu_);
        transfer->base_id.clear();
        transfer->base_origin.clear();
        transfer->next_offset = 0;
        auto described = described_.find(transfer->spec.source_id);
        if (described != described_.end()) transfer->data_bytes = described->second.data_bytes;
      }
      result = Receive(*transfer);
    }
  }
  std::optional<catalog::VolumeRecord> volume;
  if (result.ok()) {
    auto finished = pool_.FinishImport(transfer->volume_id, transfer->spec);
    if (finished.ok()) {
      volume = finished->volume;
    } else {
      result = finished.status();
    }
  }
  bool retry = !result.ok() && Retryable(result);
  if (!result.ok() && !retry) (void)pool_.AbandonImport(transfer->volume_id);
  std::lock_guard lock(mu_);
  if (volume) {
    transfer->volume = std::move(volume);
    transfer->phase = Phase::kDone;
    completed_++;
    if (!transfer->base_id.empty()) incremental_completed_++;
    spdlog::info("peer: copied {} from node {} into volume {} ({}): {}", transfer->spec.source_id,
                 transfer->node.node_id, transfer->volume_id, transfer->spec.name,
                 Progress(*transfer));
    return;
  }
  transfer->error = result;
  transfer->phase = retry ? Phase::kInterrupted : Phase::kFailed;
  failed_attempts_++;
  spdlog::warn("peer: copying {} from node {} into volume {} {} after {}: {}",
               transfer->spec.source_id, transfer->node.node_id, transfer->spec.name,
               retry ? "interrupted (resumed by the next CreateVolume)" : "failed",
               Progress(*transfer), std::string(result.message()));
}

Status Transfers::Receive(Transfer& transfer) {
  const pool::CreateVolumeSpec& spec = transfer.spec;
  std::string base_id, base_origin;
  {
    std::lock_guard lock(mu_);
    base_id = transfer.base_id;
    base_origin = transfer.base_origin;
  }
  ASSIGN_OR_RETURN(std::string image,
                   pool_.BeginImport(transfer.volume_id, spec.capacity_bytes, base_id));
  auto stub = v1::Peer::NewStub(Dial(transfer.node));
  grpc::ClientContext context;
  uint64_t from = 0;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return absl::CancelledError("dittod is stopping");
    transfer.call = &context;
    from = transfer.next_offset;
  }
  v1::ReadImageRequest request;
  request.set_id(spec.source_id);
  request.set_offset(from);
  request.set_chunk_bytes(options_.chunk_bytes);
  request.set_base_id(base_origin);
  auto reader = stub->ReadImage(&context, request);

  std::string pending;  // verified, not yet written: [pending_at, pending_at + size)
  pending.reserve(kWriteBytes + options_.chunk_bytes);
  uint64_t pending_at = from;
  auto flush = [&]() -> Status {
    if (pending.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(pool_.host().WriteAt(image, pending_at, pending));
    std::lock_guard lock(mu_);
    transfer.next_offset = pending_at + pending.size();
    transfer.received += pending.size();
    bytes_received_ += pending.size();
    if (!base_id.empty()) incremental_bytes_received_ += pending.size();
    pending_at = transfer.next_offset;
    pending.clear();
    return absl::OkStatus();
  };
  const auto attempt_start = std::chrono::steady_clock::now();
  auto next_log = attempt_start + kProgressLogInterval;
  uint64_t streamed = 0;
  bool done = false;
  uint64_t announced = 0;
  Status broken;
  v1::ImageChunk chunk;
  while (reader->Read(&chunk)) {
    if (chunk.done()) {
      done = true;
      announced = chunk.data_bytes();
      break;
    }
    const std::string& data = chunk.data();
    uint64_t end = pending_at + pending.size();
    if (chunk.zero_length() > 0) {
      // A range that reads as zeros in the source: a hole here too, after
      // everything before it is written.
      if (base_id.empty() || !data.empty() || chunk.offset() < end ||
          chunk.offset() + chunk.zero_length() > spec.capacity_bytes) {
        broken = absl::DataLossError(fmt::format(
            "node {} sent a zero range of {} bytes at offset {}, outside what was asked (from {} "
            "up to {}, {})",
            transfer.node.node_id, chunk.zero_length(), chunk.offset(), end, spec.capacity_bytes,
            base_id.empty() ? "a full copy" : "an incremental copy"));
        break;
      }
      if (ZeroRangeSha256(chunk.offset(), chunk.zero_length()) != chunk.sha256()) {
        broken = absl::DataLossError(fmt::format(
            "the zero range at offset {} from node {} does not match its SHA-256", chunk.offset(),
            transfer.node.node_id));
        break;
      }
      broken = flush();
      if (!broken.ok()) break;
      broken = pool_.host().PunchHole(image, chunk.offset(), chunk.zero_length());
      if (!broken.ok()) break;
      std::lock_guard lock(mu_);
      transfer.next_offset = chunk.offset() + chunk.zero_length();
      pending_at = transfer.next_offset;
      continue;
    }
    if (chunk.offset() < end || data.empty() || chunk.offset() + data.size() > spec.capacity_bytes) {
      broken = absl::DataLossError(fmt::format(
          "node {} sent {} bytes at offset {}, outside what was asked (from {} up to {})",
          transfer.node.node_id, data.size(), chunk.offset(), end, spec.capacity_bytes));
      break;
    }
    if (Sha256(data) != chunk.sha256()) {
      broken = absl::DataLossError(fmt::format(
          "the chunk at offset {} from node {} does not match its SHA-256", chunk.offset(),
          transfer.node.node_id));
      break;
    }
    if (chunk.offset() != end || pending.size() + data.size() > kWriteBytes) {
      broken = flush();
      if (!broken.ok()) break;
      pending_at = chunk.offset();
    }
    pending += data;
    streamed += data.size();
    if (options_.max_bytes_per_second > 0) {
      auto due = attempt_start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(
                                         static_cast<double>(streamed) /
                                         static_cast<double>(options_.max_bytes_per_second)));
      std::unique_lock lock(mu_);
      if (stop_cv_.wait_until(lock, due, [&] { return stopping_; })) break;
    }
    if (std::chrono::steady_clock::now() >= next_log) {
      next_log += kProgressLogInterval;
      std::lock_guard lock(mu_);
      spdlog::info("peer: copying {} from node {} into volume {}: {}", spec.source_id,
                   transfer.node.node_id, spec.name, Progress(transfer));
    }
  }
  // What arrived verified is kept, whatever happens next.
  Status written = flush();
  if (!broken.ok()) written = broken;
  if (!written.ok()) context.TryCancel();
  grpc::Status finished = reader->Finish();
  {
    std::lock_guard lock(mu_);
    transfer.call = nullptr;
  }
  RETURN_IF_ERROR(written);
  if (!finished.ok()) return FromGrpc(finished, transfer.node, "reading " + spec.source_id);
  if (!done) {
    return absl::DataLossError(fmt::format("the stream of {} from node {} ended without its end",
                                           spec.source_id, transfer.node.node_id));
  }
  if (announced != streamed) {
    return absl::DataLossError(fmt::format(
        "node {} says it sent {} bytes of {} but {} arrived", transfer.node.node_id, announced,
        spec.source_id, streamed));
  }
  return pool_.host().SyncFile(image);
}

TransferStats Transfers::Stats() const {
  TransferStats stats;
  stats.bytes_received = bytes_received_;
  stats.completed = completed_;
  stats.failed_attempts = failed_attempts_;
  stats.incremental_bytes_received = incremental_bytes_received_;
  stats.incremental_completed = incremental_completed_;
  std::lock_guard lock(mu_);
  for (const auto& [name, transfer] : transfers_) {
    if (transfer->phase == Phase::kRunning) stats.active++;
  }
  return stats;
}

}  // namespace ditto::peer
