// LinuxHost: copy-on-write copies (FICLONE reflinks, sparse copies) and
// the FIEMAP extents that show what a file shares.
#include "host/linux_host.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "host/linux/linux_fd.h"
#include "host/posix_error.h"

namespace ditto::host {
namespace {
using internal::Open;
using internal::RetryOnEintr;
using internal::ScopedFd;
using internal::Fsync;
using internal::WriteAll;

// Copies [offset, offset + length) with pread/pwrite, for filesystems where
// copy_file_range cannot be used.
Status CopyRangeByReadWrite(int src, int dst, uint64_t offset, uint64_t length,
                            const std::string& source, const std::string& destination) {
  constexpr size_t kChunk = 1 << 20;
  std::string buffer(std::min<uint64_t>(kChunk, length), '\0');
  while (length > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length));
    ssize_t n =
        RetryOnEintr([&] { return ::pread(src, buffer.data(), want, static_cast<off_t>(offset)); });
    if (n < 0) return PosixError(fmt::format("read {} at offset {}", source, offset), errno);
    if (n == 0) break;  // the source shrank while copying: keep what exists
    RETURN_IF_ERROR(WriteAll(dst, offset, buffer.data(), static_cast<size_t>(n), destination));
    offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

// Copies one data range, preferring copy_file_range (which may share extents
// on XFS/btrfs) and falling back to read/write when the kernel refuses it.
Status CopyRange(int src, int dst, uint64_t offset, uint64_t length, bool& use_copy_file_range,
                 const std::string& source, const std::string& destination) {
  while (length > 0 && use_copy_file_range) {
    loff_t in = static_cast<loff_t>(offset);
    loff_t out = static_cast<loff_t>(offset);
    ssize_t n = RetryOnEintr([&] { return ::copy_file_range(src, &in, dst, &out, length, 0); });
    if (n < 0) {
      int err = errno;
      if (err == EXDEV || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL) {
        use_copy_file_range = false;
        break;
      }
      return PosixError(
          fmt::format("copy_file_range {} -> {} at offset {}", source, destination, offset), err);
    }
    if (n == 0) return absl::OkStatus();  // end of the source
    offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  if (length == 0) return absl::OkStatus();
  return CopyRangeByReadWrite(src, dst, offset, length, source, destination);
}

}  // namespace

Status LinuxHost::Reflink(const std::string& source, const std::string& destination) {
  ASSIGN_OR_RETURN(ScopedFd src, Open(source, O_RDONLY));
  ASSIGN_OR_RETURN(ScopedFd dst, Open(destination, O_CREAT | O_EXCL | O_WRONLY, 0600));
  if (::ioctl(dst.get(), FICLONE, src.get()) != 0) {
    int err = errno;
    dst.Reset();
    ::unlink(destination.c_str());
    Status status = PosixError(fmt::format("reflink (FICLONE) {} to {}", source, destination), err);
    if (err == EOPNOTSUPP || err == EXDEV || err == EINVAL || err == ENOTTY) {
      return absl::UnimplementedError(fmt::format(
          "{}; the filesystem cannot share extents between these files, use a sparse copy",
          std::string(status.message())));
    }
    return status;
  }
  Status status = Fsync(dst.get(), destination);
  if (!status.ok()) ::unlink(destination.c_str());
  return status;
}

Status LinuxHost::SparseCopy(const std::string& source, const std::string& destination) {
  ASSIGN_OR_RETURN(ScopedFd src, Open(source, O_RDONLY));
  struct stat st;
  if (::fstat(src.get(), &st) != 0) return PosixError(fmt::format("stat {}", source), errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  ASSIGN_OR_RETURN(ScopedFd dst, Open(destination, O_CREAT | O_EXCL | O_WRONLY, 0600));

  auto copy = [&]() -> Status {
    if (RetryOnEintr([&] { return ::ftruncate(dst.get(), static_cast<off_t>(size)); }) != 0) {
      return PosixError(fmt::format("truncate {} to {} bytes", destination, size), errno);
    }
    bool use_copy_file_range = true;
    uint64_t pos = 0;
    while (pos < size) {
      off_t data = ::lseek(src.get(), static_cast<off_t>(pos), SEEK_DATA);
      off_t hole;
      if (data < 0) {
        if (errno == ENXIO) break;  // only a hole remains
        if (errno != EINVAL && errno != EOPNOTSUPP) {
          return PosixError(fmt::format("seek data in {} from {}", source, pos), errno);
        }
        // No SEEK_DATA support: treat the rest as data.
        data = static_cast<off_t>(pos);
        hole = static_cast<off_t>(size);
      } else {
        hole = ::lseek(src.get(), data, SEEK_HOLE);
        if (hole < 0)
          return PosixError(fmt::format("seek hole in {} from {}", source, data), errno);
      }
      uint64_t begin = static_cast<uint64_t>(data);
      uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
      if (end <= begin) break;
      RETURN_IF_ERROR(CopyRange(src.get(), dst.get(), begin, end - begin, use_copy_file_range,
                                source, destination));
      pos = end;
    }
    return Fsync(dst.get(), destination);
  };
  Status status = copy();
  if (!status.ok()) {
    dst.Reset();
    ::unlink(destination.c_str());
  }
  return status;
}

StatusOr<std::vector<Extent>> LinuxHost::Extents(const std::string& path) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_RDONLY));
  constexpr uint32_t kBatch = 256;
  std::vector<uint64_t> storage(
      (sizeof(struct fiemap) + kBatch * sizeof(struct fiemap_extent)) / sizeof(uint64_t) + 1);
  auto* map = reinterpret_cast<struct fiemap*>(storage.data());
  std::vector<Extent> extents;
  uint64_t start = 0;
  bool first = true;
  while (true) {
    std::fill(storage.begin(), storage.end(), 0);
    map->fm_start = start;
    map->fm_length = FIEMAP_MAX_OFFSET - start;
    map->fm_flags = first ? FIEMAP_FLAG_SYNC : 0;  // one sync covers the later batches
    map->fm_extent_count = kBatch;
    if (RetryOnEintr([&] { return ::ioctl(fd.get(), FS_IOC_FIEMAP, map); }) != 0) {
      return PosixError(fmt::format("FIEMAP {}", path), errno);
    }
    first = false;
    if (map->fm_mapped_extents == 0) break;
    bool last = false;
    for (uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
      const struct fiemap_extent& fe = map->fm_extents[i];
      extents.push_back(Extent{fe.fe_logical, fe.fe_physical, fe.fe_length,
                               (fe.fe_flags & FIEMAP_EXTENT_SHARED) != 0});
      if (fe.fe_flags & FIEMAP_EXTENT_LAST) last = true;
    }
    if (last) break;
    const struct fiemap_extent& tail = map->fm_extents[map->fm_mapped_extents - 1];
    start = tail.fe_logical + tail.fe_length;
  }
  return extents;
}

}  // namespace ditto::host
