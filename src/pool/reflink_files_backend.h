// The reflink-files image backend (see image_backend.h).
#pragma once

#include <atomic>

#include "pool/image_backend.h"

namespace ditto::pool {

class ReflinkFilesBackend : public ImageBackend {
 public:
  explicit ReflinkFilesBackend(host::Host& host) : host_(host) {}

  std::string_view name() const override { return kReflinkFilesBackend; }
  // Probes whether the pool filesystem can FICLONE.
  Status Prepare(const std::string& data_dir) override;
  bool shares_blocks() const override { return reflink_; }
  std::string EntryName(const std::string& id) const override;
  std::string IdOfEntry(const std::string& entry_name) const override;
  std::string ImageIn(const std::string& entry_path) const override;
  Status CreateEmpty(const std::string& entry_path, uint64_t size, bool thick) override;
  StatusOr<std::string> Clone(const std::string& source_entry, const std::string& entry_path,
                              uint64_t size, const FrozenRunner& frozen) override;
  Status Seal(const std::string& entry_path) override;
  Status Remove(const std::string& entry_path) override;

 private:
  host::Host& host_;
  std::atomic<bool> reflink_ = false;
};

// Whether `dir`'s filesystem can FICLONE (a 4 KiB probe file, removed).
bool ProbeReflink(host::Host& host, const std::string& dir);

}  // namespace ditto::pool
