#include "pool/image_backend.h"

#include "fmt/format.h"
#include "pool/btrfs_subvolumes_backend.h"
#include "pool/reflink_files_backend.h"

namespace ditto::pool {

StatusOr<std::unique_ptr<ImageBackend>> MakeImageBackend(std::string_view name, host::Host& host) {
  if (name == kReflinkFilesBackend) return std::make_unique<ReflinkFilesBackend>(host);
  if (name == kBtrfsSubvolumesBackend) return std::make_unique<BtrfsSubvolumesBackend>(host);
  return absl::DataLossError(fmt::format(
      "unknown pool backend \"{}\" (this ditto knows {} and {}); a newer ditto made this pool",
      name, kReflinkFilesBackend, kBtrfsSubvolumesBackend));
}

}  // namespace ditto::pool
