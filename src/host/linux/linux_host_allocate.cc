// LinuxHost::AllocateUnshared: a volume made thick after the fact.
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

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

// How much of the image one FIDEDUPERANGE swaps (btrfs's own limit per
// call) and how often a piece is read again when a writer keeps changing it.
constexpr uint64_t kPieceBytes = uint64_t{16} << 20;
constexpr int kPieceAttempts = 64;

Status ReadFull(int fd, const std::string& what, char* buffer, size_t want, off_t at, size_t* got) {
  *got = 0;
  while (*got < want) {
    ssize_t n = Retry([&] { return ::pread(fd, buffer + *got, want - *got, at + *got); });
    if (n < 0) {
      return PosixError(fmt::format("read {} bytes at offset {} of {}", want, at, what), errno);
    }
    if (n == 0) break;  // past the end of the file
    *got += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

Status WriteFull(int fd, const std::string& what, const char* buffer, size_t size, off_t at) {
  size_t written = 0;
  while (written < size) {
    ssize_t w = Retry([&] { return ::pwrite(fd, buffer + written, size - written, at + written); });
    if (w < 0) {
      return PosixError(fmt::format("write {} bytes at offset {} of {}", size, at, what), errno);
    }
    written += static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

// Gives [offset, offset+length) of the image `fd` blocks of its own on a
// filesystem that has no in-kernel unshare but shares extents (btrfs): each
// piece is read, written into an unnamed file beside the image (made
// no-copy-on-write like the image, as the kernel only swaps blocks between
// files of the same kind), and swapped in with FIDEDUPERANGE. The kernel
// compares both ranges under both files' locks and replaces the image's
// blocks only if they still hold the bytes read: a write into the image
// meanwhile (an application writing through the volume's loop device) is
// never undone; the piece is read again. Once the unnamed file is closed the
// new blocks belong to the image alone. `ranges` are [begin, end) byte
// ranges of the image, in order; one unnamed file serves them all.
Status SwapInOwnBlocks(int fd, const std::string& path,
                       const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  if (ranges.empty()) return absl::OkStatus();
  const std::string dir = path.substr(0, path.find_last_of('/') + 1);
  const char* where = dir.empty() ? "." : dir.c_str();
  Fd copy(Retry([&] { return ::open(where, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600); }));
  if (copy.get() < 0) return PosixError(fmt::format("create an unnamed file in {}", dir), errno);
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_NOCOW_FL) != 0) {
    int nocow = FS_NOCOW_FL;
    if (::ioctl(copy.get(), FS_IOC_SETFLAGS, &nocow) != 0) {
      return PosixError(
          fmt::format("make the unnamed file beside {} no-copy-on-write", path), errno);
    }
  }
  const std::string what = "the unnamed file beside " + path;
  std::string buffer(static_cast<size_t>(kPieceBytes), '\0');
  std::vector<char> request(sizeof(file_dedupe_range) + sizeof(file_dedupe_range_info));
  auto* range = reinterpret_cast<file_dedupe_range*>(request.data());
  for (const auto& [offset, end] : ranges) {
    const uint64_t length = end - offset;
    uint64_t done = 0;
    int attempts = 0;
    while (done < length) {
      const off_t at = static_cast<off_t>(offset + done);
      size_t got = 0;
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length - done));
      RETURN_IF_ERROR(ReadFull(fd, path, buffer.data(), want, at, &got));
      if (got == 0) break;  // past the end of the image
      RETURN_IF_ERROR(WriteFull(copy.get(), what, buffer.data(), got, at));
      std::fill(request.begin(), request.end(), 0);
      range->src_offset = static_cast<uint64_t>(at);
      range->src_length = got;
      range->dest_count = 1;
      range->info[0].dest_fd = fd;
      range->info[0].dest_offset = static_cast<uint64_t>(at);
      if (Retry([&] { return ::ioctl(copy.get(), FIDEDUPERANGE, range); }) != 0) {
        return PosixError(
            fmt::format("swap {} bytes at offset {} into {} (FIDEDUPERANGE)", got, at, path),
            errno);
      }
      const file_dedupe_range_info& info = range->info[0];
      if (info.status < 0) {
        return PosixError(
            fmt::format("swap {} bytes at offset {} into {} (FIDEDUPERANGE)", got, at, path),
            -info.status);
      }
      if (info.status == FILE_DEDUPE_RANGE_DIFFERS || info.bytes_deduped == 0) {
        if (++attempts >= kPieceAttempts) {
          return absl::UnavailableError(fmt::format(
              "the {} bytes at offset {} of {} changed each of the {} times they were copied (a "
              "writer keeps rewriting them); retry when it writes less",
              got, at, path, kPieceAttempts));
        }
        continue;  // written meanwhile: read it again
      }
      attempts = 0;
      done += info.bytes_deduped;
    }
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
    // No FALLOC_FL_UNSHARE_RANGE (btrfs): new blocks for the shared extents.
    // The shared extents in the range, adjacent ones joined (a fragmented
    // image has many small ones; pieces span them).
    ASSIGN_OR_RETURN(auto extents, Extents(path));
    std::vector<std::pair<uint64_t, uint64_t>> shared;
    for (const auto& extent : extents) {
      if (!extent.shared) continue;
      uint64_t begin = std::max(extent.logical, offset);
      uint64_t end = std::min(extent.logical + extent.length, offset + length);
      if (begin >= end) continue;
      if (!shared.empty() && begin <= shared.back().second) {
        shared.back().second = std::max(shared.back().second, end);
      } else {
        shared.emplace_back(begin, end);
      }
    }
    RETURN_IF_ERROR(SwapInOwnBlocks(fd.get(), path, shared));
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
