#include "pool/image_backend.h"

#include "fmt/format.h"
#include "pool/btrfs_subvolumes_backend.h"
#include "pool/reflink_files_backend.h"

namespace ditto::pool {

StatusOr<std::string> ImageBackend::Snapshot(const std::string& source_entry,
                                             const std::string& entry_path, uint64_t size,
                                             const FrozenRunner& frozen) {
  ASSIGN_OR_RETURN(std::string method, Clone(source_entry, entry_path, size, frozen));
  RETURN_IF_ERROR(Seal(entry_path));
  return method;
}

StatusOr<std::unique_ptr<ImageBackend>> MakeImageBackend(std::string_view name, host::Host& host) {
  if (name == kReflinkFilesBackend) return std::make_unique<ReflinkFilesBackend>(host);
  if (name == kBtrfsSubvolumesBackend) return std::make_unique<BtrfsSubvolumesBackend>(host);
  return absl::DataLossError(fmt::format(
      "unknown pool backend \"{}\" (this ditto knows {} and {}); a newer ditto made this pool",
      name, kReflinkFilesBackend, kBtrfsSubvolumesBackend));
}

}  // namespace ditto::pool
