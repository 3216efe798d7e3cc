// The reflink-files backend: one image file per volume or snapshot, cloned
// with FICLONE, or copied sparsely where the filesystem cannot reflink.
#include "pool/reflink_files_backend.h"

#include "common/clock.h"
#include "common/ids.h"
#include "fmt/format.h"
#include "pool/path.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {
namespace {

constexpr std::string_view kSuffix = ".img";
// A reflink slower than this is logged with the source's extent count.
constexpr int64_t kSlowCloneMs = 1000;

// Whether `dir`'s filesystem can FICLONE: reflink one 4 KiB file to another.
bool CanReflink(host::Host& host, const std::string& dir) {
  std::string base = JoinPath(dir, fmt::format(".reflink-probe-{}", NewVolumeId()));
  std::string a = base + ".a", b = base + ".b";
  bool ok = host.CreateSparseFile(a, 4096).ok() && host.WriteAt(a, 0, std::string(4096, 'd')).ok();
  Status cloned = ok ? host.Reflink(a, b) : absl::InternalError("probe file not written");
  if (!cloned.ok() && !absl::IsUnimplemented(cloned)) {
    spdlog::warn("reflink probe in {} failed: {}", dir, std::string(cloned.message()));
  }
  (void)host.Remove(a);
  (void)host.Remove(b);
  return cloned.ok();
}

}  // namespace

bool ProbeReflink(host::Host& host, const std::string& dir) { return CanReflink(host, dir); }

Status ReflinkFilesBackend::Prepare(const std::string& data_dir) {
  reflink_ = CanReflink(host_, JoinPath(data_dir, "tmp"));
  return absl::OkStatus();
}

std::string ReflinkFilesBackend::EntryName(const std::string& id) const {
  return id + std::string(kSuffix);
}

std::string ReflinkFilesBackend::IdOfEntry(const std::string& entry_name) const {
  if (entry_name.size() <= kSuffix.size() || !entry_name.ends_with(kSuffix)) return "";
  return entry_name.substr(0, entry_name.size() - kSuffix.size());
}

std::string ReflinkFilesBackend::ImageIn(const std::string& entry_path) const {
  return entry_path;
}

Status ReflinkFilesBackend::CreateEmpty(const std::string& entry_path, uint64_t size, bool thick) {
  RETURN_IF_ERROR(host_.CreateSparseFile(entry_path, size));
  if (thick) RETURN_IF_ERROR(host_.Allocate(entry_path, 0, size));  // both fsync
  return absl::OkStatus();
}

StatusOr<std::string> ReflinkFilesBackend::Clone(const std::string& source_entry,
                                                 const std::string& entry_path, uint64_t size,
                                                 const FrozenRunner& frozen) {
  std::string method = "reflink";
  int64_t started = NowNanos();
  Status copied = frozen([] {}, [&]() -> Status {
    Status status = reflink_ ? host_.Reflink(source_entry, entry_path)
                             : absl::UnimplementedError("pool filesystem cannot reflink");
    if (absl::IsUnimplemented(status)) {
      method = "sparse-copy";
      status = host_.SparseCopy(source_entry, entry_path);
    }
    return status;
  });
  RETURN_IF_ERROR(copied);
  int64_t took_ms = (NowNanos() - started) / 1000000;
  if (method == "reflink" && took_ms >= kSlowCloneMs) {
    auto extents = host_.Extents(entry_path);
    spdlog::warn(
        "cloning {} took {} ms: the image is split into {} extents and a reflink costs time per "
        "extent (the source's writes wait meanwhile); a btrfs pool (dittoctl pool init "
        "--backend btrfs) clones in constant time",
        source_entry, took_ms,
        extents.ok() ? fmt::format("{}", extents->size()) : std::string("many"));
  }
  // Reflink, SparseCopy and Resize each fsync the file they make: no second flush.
  ASSIGN_OR_RETURN(auto info, host_.Stat(entry_path));
  if (info.size < size) RETURN_IF_ERROR(host_.Resize(entry_path, size));
  return method;
}

Status ReflinkFilesBackend::Seal(const std::string& entry_path) {
  RETURN_IF_ERROR(host_.SetMode(entry_path, 0444));
  return host_.SyncFile(entry_path);
}

Status ReflinkFilesBackend::Remove(const std::string& entry_path) {
  return host_.Remove(entry_path);
}

}  // namespace ditto::pool
