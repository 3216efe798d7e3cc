// The receiving side of node-to-node copies: a volume made on this node
// from a volume or snapshot that another node holds. The copy runs in the
// background while CreateVolume is retried: each call with the same name
// starts it, reports its progress, resumes it after a failure, and returns
// the volume once it is complete.
//
// The data goes into a pool import (pool.h): an image under tmp/ that no
// catalog row names until every chunk arrived with a matching SHA-256 and
// the sender said how much it sent. A broken connection or a restarted
// sender costs nothing written: the next attempt asks for the data after
// the last chunk written. A restart of this node drops the copy (tmp/ is
// emptied); the next call starts it again.
//
// Incremental copies: a volume copied from another node's snapshot keeps a
// base on this node (Pool::FinishImport), a snapshot recording that origin.
// Before its first attempt, a copy offers the sending node the origins of
// the bases copied from it; when the sender can compute the delta from one
// of them (a snapshot of the same volume there, still present), the new
// image starts as a clone of that base here and only the changed ranges
// cross (with the ranges to zero). When the sender refuses the delta
// later (the base was deleted there meanwhile), the copy starts again as a
// full one. Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "catalog/records.h"
#include "common/status.h"
#include "peer/peer_directory.h"
#include "peer/tls.h"
#include "pool/pool.h"

namespace ditto::peer {

struct TransferOptions {
  std::shared_ptr<PeerDirectory> peers;
  TlsFiles tls;
  // Bytes per second one copy may receive; 0: as fast as it goes.
  uint64_t max_bytes_per_second = 0;
  uint32_t chunk_bytes = 2u << 20;
};

// What another node says of one of its images.
struct RemoteImage {
  std::string id;
  uint64_t size_bytes = 0;
  std::string mode_hint;
  std::string fs_type;
  uint64_t data_bytes = 0;
};

// Figures for metrics (since start).
struct TransferStats {
  uint64_t bytes_received = 0;  // verified and written
  uint64_t active = 0;          // copies running now
  uint64_t completed = 0;
  uint64_t failed_attempts = 0;
  // The part of the above that incremental copies account for.
  uint64_t incremental_bytes_received = 0;
  uint64_t incremental_completed = 0;
};

class Transfers {
 public:
  Transfers(pool::Pool& pool, TransferOptions options);
  // Cancels the copies in progress and waits for their threads.
  ~Transfers();
  Transfers(const Transfers&) = delete;
  Transfers& operator=(const Transfers&) = delete;

  // The other node holding volume or snapshot `id`, or nullopt when it is
  // this node's (PeerDirectory::HolderOf).
  StatusOr<std::optional<PeerAddress>> HolderOf(std::string_view id) const;
  // Asks `node` about its image `id` (remembered after the first answer).
  // Unavailable when the node cannot be reached; its NotFound as is.
  StatusOr<RemoteImage> Describe(const PeerAddress& node, const std::string& id);
  // The volume `spec` (its source on `node`, its capacity resolved) made
  // here: starts the copy when none runs under this name, resumes a failed
  // one. Returns the volume once complete (once: later calls find it in the
  // pool), else Aborted (in progress) or Unavailable (interrupted, resumed)
  // with the progress; a copy that cannot succeed (the source is gone, the
  // pool is full) is dropped and its error returned. AlreadyExists when a
  // copy of another source or size runs under the name.
  StatusOr<catalog::VolumeRecord> CopyVolume(const pool::CreateVolumeSpec& spec,
                                             const PeerAddress& node);
  TransferStats Stats() const;

 private:
  enum class Phase { kRunning, kInterrupted, kDone, kFailed };
  struct Transfer {
    pool::CreateVolumeSpec spec;
    PeerAddress node;
    std::string volume_id;
    uint64_t data_bytes = 0;   // what the copy moves (from Describe, then the plan)
    bool planned = false;      // the base chosen (or none)
    std::string base_id;       // the local snapshot the image starts from ("": full copy)
    std::string base_origin;   // what base_id is a copy of, on the sending node
    uint64_t next_offset = 0;  // everything before it is written and verified
    uint64_t received = 0;     // bytes written, all attempts
    std::chrono::steady_clock::time_point started;
    Phase phase = Phase::kRunning;
    Status error;              // of the last attempt
    std::optional<catalog::VolumeRecord> volume;
    std::thread thread;
    grpc::ClientContext* call = nullptr;  // the stream in flight, to cancel
  };

  void Start(Transfer& transfer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One attempt, on the transfer's thread.
  void Run(Transfer* transfer);
  // Chooses the base of the copy, once: asks the sending node which of the
  // bases copied from it a delta can start from.
  Status Plan(Transfer& transfer);
  Status Receive(Transfer& transfer);
  std::string Progress(const Transfer& transfer) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<grpc::Channel> Dial(const PeerAddress& node) const;

  pool::Pool& pool_;
  TransferOptions options_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::unique_ptr<Transfer>> transfers_ ABSL_GUARDED_BY(mu_);  // by name
  std::map<std::string, RemoteImage> described_ ABSL_GUARDED_BY(mu_);                // by ID
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> failed_attempts_{0};
  std::atomic<uint64_t> incremental_bytes_received_{0};
  std::atomic<uint64_t> incremental_completed_{0};
};

}  // namespace ditto::peer
