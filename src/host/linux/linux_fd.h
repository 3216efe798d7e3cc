// File-descriptor helpers shared by the LinuxHost translation units.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "common/status.h"
#include "fmt/format.h"
#include "host/posix_error.h"

namespace ditto::host::internal {

// Owns one file descriptor.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset(int fd = -1) {
    // close() is not retried on EINTR: on Linux the descriptor is gone anyway.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

template <typename F>
auto RetryOnEintr(F f) {
  decltype(f()) result;
  do {
    result = f();
  } while (result == -1 && errno == EINTR);
  return result;
}

inline StatusOr<ScopedFd> Open(const std::string& path, int flags, mode_t mode = 0) {
  int fd = RetryOnEintr([&] { return ::open(path.c_str(), flags | O_CLOEXEC, mode); });
  if (fd < 0) return PosixError(fmt::format("open {}", path), errno);
  return ScopedFd(fd);
}

// fsync(2), retried on EINTR.
inline Status Fsync(int fd, const std::string& path) {
  if (RetryOnEintr([&] { return ::fsync(fd); }) != 0) {
    return PosixError(fmt::format("fsync {}", path), errno);
  }
  return absl::OkStatus();
}

// pwrite(2) of all of `data` at `offset`, retried on short writes and EINTR.
inline Status WriteAll(int fd, uint64_t offset, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = RetryOnEintr([&] { return ::pwrite(fd, data, size, static_cast<off_t>(offset)); });
    if (n < 0) return PosixError(fmt::format("write {} at offset {}", path, offset), errno);
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace ditto::host::internal
