// LinuxHost::AllocateUnshared: a volume made thick after the fact.
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "fmt/format.h"
#include "host/linux_host.h"
#include "host/posix_error.h"

namespace ditto::host {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

template <typename F>
auto Retry(F f) {
  decltype(f()) result;
  do {
    result = f();
  } while (result < 0 && errno == EINTR);
  return result;
}

// Reads [offset, offset+length) and writes the same bytes back: on a
// filesystem that copies a shared extent on every write (btrfs), the range
// then has blocks of its own.
Status RewriteInPlace(int fd, const std::string& path, uint64_t offset, uint64_t length) {
  constexpr uint64_t kChunk = 1 << 20;
  std::string buffer(kChunk, '\0');
  uint64_t done = 0;
  while (done < length) {
    uint64_t want = std::min(kChunk, length - done);
    off_t at = static_cast<off_t>(offset + done);
    ssize_t n = Retry([&] { return ::pread(fd, buffer.data(), want, at); });
    if (n < 0) return PosixError(fmt::format("read {} bytes at offset {} of {}", want, at, path), errno);
    if (n == 0) break;  // past the end of the file
    size_t written = 0;
    while (written < static_cast<size_t>(n)) {
      ssize_t w = Retry([&] {
        return ::pwrite(fd, buffer.data() + written, static_cast<size_t>(n) - written,
                        at + static_cast<off_t>(written));
      });
      if (w < 0) {
        return PosixError(fmt::format("rewrite {} bytes at offset {} of {}", n, at, path), errno);
      }
      written += static_cast<size_t>(w);
    }
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

Status LinuxHost::AllocateUnshared(const std::string& path, uint64_t offset, uint64_t length) {
  if (length == 0) {
    return absl::InvalidArgumentError(
        fmt::format("allocate {}: the length is 0; give the number of bytes to allocate", path));
  }
  Fd fd(Retry([&] { return ::open(path.c_str(), O_RDWR | O_CLOEXEC); }));
  if (fd.get() < 0) return PosixError(fmt::format("open {}", path), errno);
  const off_t off = static_cast<off_t>(offset);
  const off_t len = static_cast<off_t>(length);
  if (Retry([&] { return ::fallocate(fd.get(), FALLOC_FL_UNSHARE_RANGE, off, len); }) != 0) {
    int err = errno;
    if (err != EOPNOTSUPP && err != EINVAL) {
      return PosixError(fmt::format("unshare {} bytes at offset {} of {}", length, offset, path),
                        err);
    }
    // No FALLOC_FL_UNSHARE_RANGE (btrfs, ext4): rewrite the shared extents.
    ASSIGN_OR_RETURN(auto extents, Extents(path));
    for (const auto& extent : extents) {
      if (!extent.shared) continue;
      uint64_t begin = std::max(extent.logical, offset);
      uint64_t end = std::min(extent.logical + extent.length, offset + length);
      if (begin >= end) continue;
      RETURN_IF_ERROR(RewriteInPlace(fd.get(), path, begin, end - begin));
    }
  }
  if (Retry([&] { return ::fallocate(fd.get(), 0, off, len); }) != 0) {
    return PosixError(fmt::format("fallocate {} bytes at offset {} of {}", length, offset, path),
                      errno);
  }
  if (Retry([&] { return ::fsync(fd.get()); }) != 0) {
    return PosixError(fmt::format("fsync {}", path), errno);
  }
  return absl::OkStatus();
}

}  // namespace ditto::host
