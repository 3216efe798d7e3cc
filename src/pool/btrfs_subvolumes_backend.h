// The btrfs-subvolumes image backend (see image_backend.h).
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "pool/image_backend.h"

namespace ditto::pool {

inline constexpr char kSubvolumeImageName[] = "disk.img";

class BtrfsSubvolumesBackend : public ImageBackend {
 public:
  explicit BtrfsSubvolumesBackend(host::Host& host);
  ~BtrfsSubvolumesBackend() override;

  std::string_view name() const override { return kBtrfsSubvolumesBackend; }
  // FailedPrecondition unless `data_dir` is on btrfs.
  Status Prepare(const std::string& data_dir) override;
  bool shares_blocks() const override { return true; }
  std::string EntryName(const std::string& id) const override { return id; }
  std::string IdOfEntry(const std::string& entry_name) const override { return entry_name; }
  std::string ImageIn(const std::string& entry_path) const override;
  Status CreateEmpty(const std::string& entry_path, uint64_t size, bool thick) override;
  StatusOr<std::string> Clone(const std::string& source_entry, const std::string& entry_path,
                              uint64_t size, const FrozenRunner& frozen) override;
  // A read-only subvolume snapshot, read-only from its first commit.
  StatusOr<std::string> Snapshot(const std::string& source_entry, const std::string& entry_path,
                                 uint64_t size, const FrozenRunner& frozen) override;
  Status Seal(const std::string& entry_path) override;
  // A subvolume snapshot is made whole, in one transaction commit.
  bool copies_in_place() const override { return true; }
  Status Remove(const std::string& entry_path) override;

 private:
  // The subvolume snapshot of `source_entry` at `entry_path`, inside `frozen`.
  Status SnapshotFrozen(const std::string& source_entry, const std::string& entry_path,
                        bool read_only, const FrozenRunner& frozen);
  // btrfs frees a deleted subvolume's blocks in the background, after the
  // transaction that deleted it commits; until a later commit the space does
  // not show as free. After each delete a thread commits a few times over the
  // next seconds, so the pool's free space reflects it within seconds (not at
  // the next 30 s periodic commit).
  void SettleLoop();

  host::Host& host_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::string data_dir_ ABSL_GUARDED_BY(mu_);
  int settle_rounds_ ABSL_GUARDED_BY(mu_) = 0;  // commits still to make
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread settler_;
};

}  // namespace ditto::pool
