// How a pool keeps its images: the seam between the pool's protocol (catalog,
// crash safety, admission, locking, recovery: pool.h) and the filesystem
// mechanism that makes, clones and removes an image.
//
//   reflink-files     each image is a file DIR/<id>.img; a clone is FICLONE
//                     (cost per extent), or a sparse-aware copy where the
//                     filesystem cannot reflink (XFS, or anything else).
//   btrfs-subvolumes  each image is DIR/<id>/disk.img in a subvolume of its
//                     own, no-copy-on-write; a clone is a subvolume snapshot
//                     (O(1), whatever the image holds), a snapshot a read-only
//                     one, a delete a subvolume delete.
//
// An "entry" is what a directory of the pool holds for one image (the file,
// or the subvolume); entries are made under tmp/ and renamed into place by
// the pool, except copies of a backend that makes them whole and durable in
// one step (copies_in_place). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "host/host.h"

namespace ditto::pool {

inline constexpr std::string_view kReflinkFilesBackend = "reflink-files";
inline constexpr std::string_view kBtrfsSubvolumesBackend = "btrfs-subvolumes";

// Runs one step with the source volume's filesystem frozen (when ditto has it
// mounted), thawing it right after: the pool's freeze window. `prepare` runs
// just before the freeze, after the source's filesystem was flushed, while its
// application still runs: work done there is not done inside the window (with
// no window, `prepare` does not run).
using FrozenRunner = std::function<Status(const std::function<void()>& prepare,
                                          const std::function<Status()>& step)>;

class ImageBackend {
 public:
  virtual ~ImageBackend() = default;

  // kReflinkFilesBackend or kBtrfsSubvolumesBackend, as pool.json records it.
  virtual std::string_view name() const = 0;
  // Checks that `data_dir` can hold this backend's images (called at open).
  virtual Status Prepare(const std::string& data_dir) = 0;
  // Whether clones share blocks with their source (false: sparse copies).
  virtual bool shares_blocks() const = 0;

  // The entry name of image `id`, and back ("" for a name no image has).
  virtual std::string EntryName(const std::string& id) const = 0;
  virtual std::string IdOfEntry(const std::string& entry_name) const = 0;
  // The image file within the entry at `entry_path`.
  virtual std::string ImageIn(const std::string& entry_path) const = 0;

  // Makes the entry `entry_path` (absent) a new sparse image of `size` bytes,
  // fully allocated when `thick`, durable.
  virtual Status CreateEmpty(const std::string& entry_path, uint64_t size, bool thick) = 0;
  // Makes the entry `entry_path` (absent) a copy of the image in
  // `source_entry`, sharing its blocks where the backend can, taken inside
  // `frozen` (only the copy itself: the freeze is as short as it can be).
  // The image is grown to `size` if smaller, and durable. Returns how it was
  // made ("reflink", "sparse-copy", "subvolume-snapshot").
  virtual StatusOr<std::string> Clone(const std::string& source_entry,
                                      const std::string& entry_path, uint64_t size,
                                      const FrozenRunner& frozen) = 0;
  // Makes the entry `entry_path` (absent) a read-only copy of the image in
  // `source_entry` (a snapshot), taken inside `frozen` as Clone's, durable.
  // By default a Clone, then Seal.
  virtual StatusOr<std::string> Snapshot(const std::string& source_entry,
                                         const std::string& entry_path, uint64_t size,
                                         const FrozenRunner& frozen);
  // Makes an entry read-only for good (snapshots), durably.
  virtual Status Seal(const std::string& entry_path) = 0;
  // Whether Clone and Snapshot make their entry whole or not at all and
  // durable in one step, with nothing else left to do (a btrfs subvolume
  // snapshot: one transaction commit). The pool then makes such copies at
  // their final path: no tmp/ entry, no rename, no directory fsync (a second
  // commit). A crash leaves at most a complete entry that no catalog row
  // names, which Open() removes like any orphan.
  virtual bool copies_in_place() const { return false; }
  // Removes an entry (whatever an interrupted create left of it, too).
  // NotFound when missing.
  virtual Status Remove(const std::string& entry_path) = 0;
};

// The backend named `name` (as recorded in pool.json) over `host`.
StatusOr<std::unique_ptr<ImageBackend>> MakeImageBackend(std::string_view name, host::Host& host);

}  // namespace ditto::pool
