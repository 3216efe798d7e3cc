// LinuxHost: files and directories, and advisory file locks.
#include "host/linux_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
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

FileInfo ToFileInfo(const struct stat& st) {
  FileInfo info;
  info.size = static_cast<uint64_t>(st.st_size);
  info.allocated_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  info.is_directory = S_ISDIR(st.st_mode);
  info.is_regular = S_ISREG(st.st_mode);
  info.is_block_device = S_ISBLK(st.st_mode);
  info.is_symlink = S_ISLNK(st.st_mode);
  info.mode = st.st_mode & 07777;
  info.device = st.st_dev;
  info.inode = st.st_ino;
  info.rdev = st.st_rdev;
  return info;
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class FlockLock : public FileLock {
 public:
  explicit FlockLock(ScopedFd fd) : fd_(std::move(fd)) {}

 private:
  ScopedFd fd_;  // closing it releases the lock
};

}  // namespace

Status LinuxHost::MakeDirectories(const std::string& path, uint32_t mode) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(fmt::format("mkdir '{}': path must be absolute", path));
  }
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (prefix.empty() || prefix.back() == '/') continue;
    if (::mkdir(prefix.c_str(), mode) == 0) {
      // mkdir applies the umask; the caller asked for exactly `mode`.
      if (::chmod(prefix.c_str(), mode) != 0) {
        return PosixError(fmt::format("chmod {}", prefix), errno);
      }
      continue;
    }
    int err = errno;
    if (err != EEXIST) return PosixError(fmt::format("mkdir {}", prefix), err);
    struct stat st;
    if (::stat(prefix.c_str(), &st) != 0) return PosixError(fmt::format("stat {}", prefix), errno);
    if (!S_ISDIR(st.st_mode)) return PosixError(fmt::format("mkdir {}", prefix), ENOTDIR);
  }
  return absl::OkStatus();
}

StatusOr<FileInfo> LinuxHost::Stat(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return PosixError(fmt::format("stat {}", path), errno);
  return ToFileInfo(st);
}

StatusOr<std::vector<std::string>> LinuxHost::ListDirectory(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return PosixError(fmt::format("opendir {}", path), errno);
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    struct dirent* entry = ::readdir(dir);
    if (entry == nullptr) break;
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return PosixError(fmt::format("readdir {}", path), err);
  std::sort(names.begin(), names.end());
  return names;
}

Status LinuxHost::CreateSparseFile(const std::string& path, uint64_t size) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_CREAT | O_EXCL | O_WRONLY, 0600));
  if (RetryOnEintr([&] { return ::ftruncate(fd.get(), static_cast<off_t>(size)); }) != 0) {
    Status status = PosixError(fmt::format("truncate {} to {} bytes", path, size), errno);
    ::unlink(path.c_str());
    return status;
  }
  return Fsync(fd.get(), path);
}

Status LinuxHost::Touch(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return absl::OkStatus();
  int fd = RetryOnEintr(
      [&] { return ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640); });
  if (fd < 0) {
    if (errno == EEXIST) return absl::OkStatus();  // created concurrently
    return PosixError(fmt::format("create {}", path), errno);
  }
  ::close(fd);
  return absl::OkStatus();
}

Status LinuxHost::Allocate(const std::string& path, uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_WRONLY));
  if (RetryOnEintr([&] {
        return ::fallocate(fd.get(), 0, static_cast<off_t>(offset), static_cast<off_t>(length));
      }) != 0) {
    return PosixError(fmt::format("fallocate {} bytes at offset {} of {}", length, offset, path),
                      errno);
  }
  return Fsync(fd.get(), path);
}

Status LinuxHost::PunchHole(const std::string& path, uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_WRONLY));
  if (RetryOnEintr([&] {
        return ::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           static_cast<off_t>(offset), static_cast<off_t>(length));
      }) != 0) {
    return PosixError(
        fmt::format("punch a hole of {} bytes at offset {} of {}", length, offset, path), errno);
  }
  return Fsync(fd.get(), path);
}

Status LinuxHost::Resize(const std::string& path, uint64_t size) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_WRONLY));
  if (RetryOnEintr([&] { return ::ftruncate(fd.get(), static_cast<off_t>(size)); }) != 0) {
    return PosixError(fmt::format("truncate {} to {} bytes", path, size), errno);
  }
  return Fsync(fd.get(), path);
}

Status LinuxHost::SyncFile(const std::string& path) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_RDONLY));
  return Fsync(fd.get(), path);
}

Status LinuxHost::SyncDirectory(const std::string& path) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_RDONLY | O_DIRECTORY));
  return Fsync(fd.get(), path);
}

Status LinuxHost::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return PosixError(fmt::format("rename {} to {}", from, to), errno);
  }
  return absl::OkStatus();
}

Status LinuxHost::Remove(const std::string& path) {
  if (::unlink(path.c_str()) == 0) return absl::OkStatus();
  if (errno != EISDIR) return PosixError(fmt::format("unlink {}", path), errno);
  if (::rmdir(path.c_str()) != 0) return PosixError(fmt::format("rmdir {}", path), errno);
  return absl::OkStatus();
}

Status LinuxHost::SetMode(const std::string& path, uint32_t mode) {
  if (::chmod(path.c_str(), mode) != 0) {
    return PosixError(fmt::format("chmod {:o} {}", mode, path), errno);
  }
  return absl::OkStatus();
}

StatusOr<std::string> LinuxHost::ReadFile(const std::string& path) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_RDONLY));
  std::string contents;
  char buffer[65536];
  while (true) {
    // Read to EOF rather than trusting st_size, which is 0 for /proc and /sys.
    ssize_t n = RetryOnEintr([&] { return ::read(fd.get(), buffer, sizeof(buffer)); });
    if (n < 0) return PosixError(fmt::format("read {}", path), errno);
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

Status LinuxHost::WriteFileAtomically(const std::string& path, const std::string& contents) {
  std::string temp = path + ".tmp-XXXXXX";
  int raw = ::mkostemp(temp.data(), O_CLOEXEC);
  if (raw < 0) return PosixError(fmt::format("create temporary file beside {}", path), errno);
  ScopedFd fd(raw);
  auto fail = [&](Status status) {
    ::unlink(temp.c_str());
    return status;
  };
  // Keep the permissions of the file being replaced (mkostemp makes 0600).
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && ::fchmod(fd.get(), st.st_mode & 07777) != 0) {
    return fail(PosixError(fmt::format("chmod {}", temp), errno));
  }
  Status status = WriteAll(fd.get(), 0, contents.data(), contents.size(), temp);
  if (status.ok()) status = Fsync(fd.get(), temp);
  if (!status.ok()) return fail(status);
  fd.Reset();
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return fail(PosixError(fmt::format("rename {} to {}", temp, path), errno));
  }
  return SyncDirectory(DirectoryOf(path));
}

Status LinuxHost::WriteAt(const std::string& path, uint64_t offset, const std::string& data) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_WRONLY));
  RETURN_IF_ERROR(WriteAll(fd.get(), offset, data.data(), data.size(), path));
  return Fsync(fd.get(), path);
}

StatusOr<std::string> LinuxHost::ReadAt(const std::string& path, uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_RDONLY));
  std::string data;
  constexpr uint64_t kChunk = 1 << 20;
  while (length > 0) {
    size_t want = static_cast<size_t>(std::min(kChunk, length));
    size_t old_size = data.size();
    data.resize(old_size + want);
    ssize_t n = RetryOnEintr([&] {
      return ::pread(fd.get(), data.data() + old_size, want, static_cast<off_t>(offset));
    });
    if (n < 0) return PosixError(fmt::format("read {} at offset {}", path, offset), errno);
    data.resize(old_size + static_cast<size_t>(n));
    if (n == 0) break;  // end of file: a short read
    offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return data;
}

StatusOr<std::string> LinuxHost::RealPath(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return PosixError(fmt::format("realpath {}", path), errno);
  std::string result(resolved);
  ::free(resolved);
  return result;
}

StatusOr<std::unique_ptr<FileLock>> LinuxHost::LockFile(const std::string& path, int timeout_ms) {
  int raw = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (raw < 0) return PosixError(fmt::format("open lock file {}", path), errno);
  ScopedFd fd(raw);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return PosixError(fmt::format("lock (flock) {}", path), errno);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      char text[32] = {};
      ssize_t got = ::pread(fd.get(), text, sizeof(text) - 1, 0);
      std::string holder = got > 0 ? std::string(text, static_cast<size_t>(got)) : "";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      return absl::UnavailableError(fmt::format(
          "{} is locked by {}; wait for it to finish or stop it", path,
          holder.empty() ? std::string("another process") : "PID " + holder));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Who holds it, for the message another process gets (best effort: the
  // lock itself is the flock, not this text).
  std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd.get(), 0) == 0) (void)!::pwrite(fd.get(), pid.data(), pid.size(), 0);
  return std::unique_ptr<FileLock>(new FlockLock(std::move(fd)));
}

}  // namespace ditto::host
