#include "host/linux_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string_view>
#include <thread>
#include <utility>

#include "fmt/format.h"
#include "host/linux_fd.h"
#include "host/posix_error.h"

namespace ditto::host {
namespace {
using internal::Open;
using internal::RetryOnEintr;
using internal::ScopedFd;

Status Fsync(int fd, const std::string& path) {
  if (RetryOnEintr([&] { return ::fsync(fd); }) != 0) {
    return PosixError(fmt::format("fsync {}", path), errno);
  }
  return absl::OkStatus();
}

Status WriteAll(int fd, uint64_t offset, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = RetryOnEintr([&] { return ::pwrite(fd, data, size, static_cast<off_t>(offset)); });
    if (n < 0) return PosixError(fmt::format("write {} at offset {}", path, offset), errno);
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

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

std::string FilesystemName(uint64_t magic) {
  switch (magic) {
    case XFS_SUPER_MAGIC:
      return "xfs";
    case EXT4_SUPER_MAGIC:  // ext2/3/4 share one magic
      return "ext4";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case TMPFS_MAGIC:
      return "tmpfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlay";
    default:
      return fmt::format("0x{:x}", magic);
  }
}

// Debian packages providing the tools ditto runs, for "install X" hints.
std::string_view PackageFor(std::string_view tool) {
  static constexpr std::pair<std::string_view, std::string_view> kPackages[] = {
      {"mkfs.xfs", "xfsprogs"},   {"xfs_growfs", "xfsprogs"},    {"xfs_repair", "xfsprogs"},
      {"xfs_admin", "xfsprogs"},  {"xfs_info", "xfsprogs"},      {"mkfs.ext4", "e2fsprogs"},
      {"mkfs.ext3", "e2fsprogs"}, {"resize2fs", "e2fsprogs"},    {"e2fsck", "e2fsprogs"},
      {"tune2fs", "e2fsprogs"},   {"mkfs.btrfs", "btrfs-progs"}, {"btrfs", "btrfs-progs"},
      {"blkid", "util-linux"},    {"losetup", "mount"},          {"wipefs", "util-linux"},
      {"mount", "mount"},         {"umount", "mount"},           {"fsck", "util-linux"},
      {"cp", "coreutils"},        {"sync", "coreutils"},
  };
  for (const auto& [name, package] : kPackages) {
    if (name == tool) return package;
  }
  return "";
}

StatusOr<std::string> ResolveTool(const std::string& tool) {
  if (tool.empty()) return absl::InvalidArgumentError("cannot run a command with an empty name");
  if (tool.find('/') != std::string::npos) return tool;
  std::string_view dirs = LinuxHost::kToolPath;
  while (!dirs.empty()) {
    size_t colon = dirs.find(':');
    std::string candidate = fmt::format("{}/{}", dirs.substr(0, colon), tool);
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  std::string_view package = PackageFor(tool);
  return absl::NotFoundError(
      fmt::format("cannot run '{}': not found in {}; {}", tool, LinuxHost::kToolPath,
                  package.empty() ? std::string("install the tool")
                                  : fmt::format("install the Debian package {}", package)));
}

// In the forked child: only async-signal-safe calls until execve.
[[noreturn]] void ExecChild(const char* path, char* const argv[], char* const envp[], int in_fd,
                            int out_fd, int err_fd, int report_fd) {
  auto move_to = [](int from, int to) {
    if (from == to) return ::fcntl(to, F_SETFD, 0);  // keep it across execve
    return ::dup2(from, to);
  };
  int err = 0;
  if (move_to(in_fd, 0) < 0 || move_to(out_fd, 1) < 0 || move_to(err_fd, 2) < 0) {
    err = errno;
  } else {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, nullptr);
    // Every other descriptor is closed by execve (report_fd included, which
    // tells the parent that the exec succeeded).
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < 65536; ++fd) {
        if (fd != report_fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      }
    }
    ::execve(path, argv, envp);
    err = errno;
  }
  ssize_t ignored = ::write(report_fd, &err, sizeof(err));
  (void)ignored;
  ::_exit(127);
}

// Reads both pipes until the child closes them; poll avoids the deadlock of
// a child blocked on a full stderr while we wait on stdout.
// Reads both pipes to EOF; DeadlineExceeded if that has not happened by
// `deadline`.
Status DrainPipes(int out_fd, int err_fd, std::string& out, std::string& err,
                  std::chrono::steady_clock::time_point deadline) {
  struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&out, &err};
  int open_count = 2;
  char buffer[65536];
  while (open_count > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError("command output not finished");
    int ready = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return PosixError("poll command output", errno);
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = RetryOnEintr([&] { return ::read(fds[i].fd, buffer, sizeof(buffer)); });
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        fds[i].fd = -1;  // EOF (or a broken pipe): poll ignores negative fds
        --open_count;
      }
    }
  }
  return absl::OkStatus();
}

std::string UnescapeMountField(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '3' &&
        field[i + 2] >= '0' && field[i + 2] <= '7' && field[i + 3] >= '0' && field[i + 3] <= '7') {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

std::vector<std::string_view> SplitSpaces(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) fields.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  return fields;
}

constexpr int kLoopAttachAttempts = 8;
constexpr int kLoopDetachAttempts = 10;
constexpr auto kLoopRetryDelay = std::chrono::milliseconds(100);
constexpr int kLoopMajor = 7;

}  // namespace

StatusOr<std::vector<MountEntry>> ParseMountInfo(const std::string& text) {
  std::vector<MountEntry> entries;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    if (line.empty()) continue;
    // id parent major:minor root mount_point options [optional...] - type source super_options
    std::vector<std::string_view> fields = SplitSpaces(line);
    auto dash = std::find(fields.begin(), fields.end(), std::string_view("-"));
    if (fields.size() < 7 || dash == fields.end() || dash - fields.begin() < 6 ||
        fields.end() - dash < 3) {
      return absl::InternalError(fmt::format("cannot parse mountinfo line '{}'", line));
    }
    MountEntry entry;
    entry.device_number = std::string(fields[2]);
    entry.root = UnescapeMountField(fields[3]);
    entry.target = UnescapeMountField(fields[4]);
    entry.options = std::string(fields[5]);
    entry.fs_type = UnescapeMountField(dash[1]);
    entry.source = UnescapeMountField(dash[2]);
    entries.push_back(std::move(entry));
  }
  return entries;
}

// ---- files and directories ----

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

// ---- copy-on-write ----

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

StatusOr<FilesystemInfo> LinuxHost::StatFilesystem(const std::string& path) {
  struct statfs fs;
  if (::statfs(path.c_str(), &fs) != 0) return PosixError(fmt::format("statfs {}", path), errno);
  uint64_t block = fs.f_frsize != 0 ? fs.f_frsize : fs.f_bsize;
  FilesystemInfo info;
  info.type = FilesystemName(static_cast<uint64_t>(static_cast<uint32_t>(fs.f_type)));
  info.capacity_bytes = fs.f_blocks * block;
  info.free_bytes = fs.f_bfree * block;
  info.available_bytes = fs.f_bavail * block;
  info.total_inodes = fs.f_files;
  info.free_inodes = fs.f_ffree;
  return info;
}

Status LinuxHost::Freeze(const std::string& mount_point) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(mount_point, O_RDONLY | O_DIRECTORY));
  if (::ioctl(fd.get(), FIFREEZE, 0) != 0) {
    return PosixError(fmt::format("freeze (FIFREEZE) {}", mount_point), errno);
  }
  return absl::OkStatus();
}

Status LinuxHost::Thaw(const std::string& mount_point) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(mount_point, O_RDONLY | O_DIRECTORY));
  if (::ioctl(fd.get(), FITHAW, 0) != 0) {
    return PosixError(fmt::format("thaw (FITHAW) {}", mount_point), errno);
  }
  return absl::OkStatus();
}

namespace {

class FlockLock : public FileLock {
 public:
  explicit FlockLock(ScopedFd fd) : fd_(std::move(fd)) {}

 private:
  ScopedFd fd_;  // closing it releases the lock
};

}  // namespace

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

// ---- block devices ----

StatusOr<std::string> LinuxHost::AttachLoop(const std::string& backing_file, bool direct_io,
                                            bool read_only) {
  ASSIGN_OR_RETURN(ScopedFd control, Open("/dev/loop-control", O_RDWR));
  ASSIGN_OR_RETURN(ScopedFd backing, Open(backing_file, read_only ? O_RDONLY : O_RDWR));
  // With direct I/O the kernel would otherwise take the logical block size from
  // the image's alignment, which on XFS changes once the image shares extents
  // (512 fresh, 4096 after a clone): fix it, so a volume's device looks the same
  // before and after it is cloned.
  const uint32_t block_size = direct_io ? 4096 : 0;
  Status last_error;
  for (int attempt = 0; attempt < kLoopAttachAttempts; ++attempt) {
    int index = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (index < 0) return PosixError("find a free loop device (LOOP_CTL_GET_FREE)", errno);
    std::string device = fmt::format("/dev/loop{}", index);
    int raw = RetryOnEintr([&] { return ::open(device.c_str(), O_RDWR | O_CLOEXEC); });
    if (raw < 0 && errno == ENOENT) {
      // No devtmpfs (some containers): create the node the kernel just allocated.
      if (::mknod(device.c_str(), S_IFBLK | 0660, makedev(kLoopMajor, index)) != 0 &&
          errno != EEXIST) {
        return PosixError(fmt::format("mknod {}", device), errno);
      }
      raw = RetryOnEintr([&] { return ::open(device.c_str(), O_RDWR | O_CLOEXEC); });
    }
    if (raw < 0) return PosixError(fmt::format("open {}", device), errno);
    ScopedFd loop(raw);

    struct loop_config config;
    memset(&config, 0, sizeof(config));
    config.fd = static_cast<uint32_t>(backing.get());
    config.block_size = block_size;
    config.info.lo_flags =
        (direct_io ? LO_FLAGS_DIRECT_IO : 0) | (read_only ? LO_FLAGS_READ_ONLY : 0);
    strncpy(reinterpret_cast<char*>(config.info.lo_file_name), backing_file.c_str(),
            LO_NAME_SIZE - 1);
    if (::ioctl(loop.get(), LOOP_CONFIGURE, &config) == 0) return device;
    int err = errno;
    last_error =
        PosixError(fmt::format("attach {} to {} (LOOP_CONFIGURE)", backing_file, device), err);
    if (err == EBUSY) continue;  // another process took this device first
    if (err == EINVAL && direct_io) {
      direct_io = false;  // the backing filesystem refuses O_DIRECT: use buffered I/O
      continue;
    }
    return last_error;
  }
  return absl::UnavailableError(fmt::format(
      "no free loop device for {} after {} attempts: {}; detach unused loop devices and retry",
      backing_file, kLoopAttachAttempts, std::string(last_error.message())));
}

Status LinuxHost::DetachLoop(const std::string& device) {
  ASSIGN_OR_RETURN(ScopedFd loop, Open(device, O_RDONLY));
  for (int attempt = 1;; ++attempt) {
    if (::ioctl(loop.get(), LOOP_CLR_FD, 0) == 0) break;
    int err = errno;
    if (err == ENXIO) return absl::OkStatus();  // not attached: already detached
    if (err != EBUSY || attempt == kLoopDetachAttempts) {
      return PosixError(fmt::format("detach {} (LOOP_CLR_FD)", device), err);
    }
    std::this_thread::sleep_for(kLoopRetryDelay);
  }
  // While someone else (udev's probe, a mount) still holds the device, the
  // kernel defers the detach to the last close; give short-lived openers a
  // moment so that callers usually observe the device free.
  loop.Reset();
  std::string name = device.substr(device.find_last_of('/') + 1);
  std::string backing = fmt::format("/sys/block/{}/loop/backing_file", name);
  for (int i = 0; i < kLoopDetachAttempts; ++i) {
    if (::access(backing.c_str(), F_OK) != 0) break;
    std::this_thread::sleep_for(kLoopRetryDelay);
  }
  return absl::OkStatus();
}

StatusOr<std::vector<LoopDevice>> LinuxHost::ListLoops() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory("/sys/block"));
  std::vector<std::pair<long, LoopDevice>> found;
  for (const std::string& name : names) {
    if (name.rfind("loop", 0) != 0) continue;
    StatusOr<std::string> backing = ReadFile(fmt::format("/sys/block/{}/loop/backing_file", name));
    if (!backing.ok()) continue;  // not attached (the file exists only while bound)
    std::string file = *std::move(backing);
    while (!file.empty() && file.back() == '\n') file.pop_back();
    found.emplace_back(std::strtol(name.c_str() + 4, nullptr, 10),
                       LoopDevice{fmt::format("/dev/{}", name), std::move(file)});
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<LoopDevice> loops;
  for (auto& [index, loop] : found) loops.push_back(std::move(loop));
  return loops;
}

Status LinuxHost::RefreshLoopCapacity(const std::string& device) {
  ASSIGN_OR_RETURN(ScopedFd loop, Open(device, O_RDONLY));
  if (::ioctl(loop.get(), LOOP_SET_CAPACITY, 0) != 0) {
    return PosixError(fmt::format("refresh capacity of {} (LOOP_SET_CAPACITY)", device), errno);
  }
  return absl::OkStatus();
}

StatusOr<uint64_t> LinuxHost::BlockDeviceSize(const std::string& device) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(device, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return PosixError(fmt::format("stat {}", device), errno);
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  uint64_t size = 0;
  if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
    return PosixError(fmt::format("size of {} (BLKGETSIZE64)", device), errno);
  }
  return size;
}

// ---- mounts ----

Status LinuxHost::Mount(const std::string& source, const std::string& target,
                        const std::string& fs_type, const MountOptions& options) {
  const char* type = fs_type.empty() ? nullptr : fs_type.c_str();
  const char* data = options.data.empty() ? nullptr : options.data.c_str();
  auto describe = [&](std::string_view what) {
    return fmt::format("{} {} on {}{}{}", what, source, target, type ? " type " : "",
                       type ? type : "");
  };
  if (options.bind && !options.remount) {
    if (::mount(source.c_str(), target.c_str(), type, MS_BIND, nullptr) != 0) {
      return PosixError(describe("bind mount"), errno);
    }
    // The kernel ignores MS_RDONLY on the initial bind: a second, remounting
    // call makes the new mount read-only.
    if (options.read_only && ::mount(source.c_str(), target.c_str(), nullptr,
                                     MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      Status status = PosixError(describe("make read-only the bind mount of"), errno);
      ::umount2(target.c_str(), 0);
      return status;
    }
    return absl::OkStatus();
  }
  unsigned long flags = 0;
  if (options.bind) flags |= MS_BIND;
  if (options.remount) flags |= MS_REMOUNT;
  if (options.read_only) flags |= MS_RDONLY;
  if (::mount(source.c_str(), target.c_str(), type, flags, data) != 0) {
    return PosixError(describe(options.remount ? "remount" : "mount"), errno);
  }
  return absl::OkStatus();
}

Status LinuxHost::Unmount(const std::string& target) {
  if (::umount2(target.c_str(), 0) == 0) return absl::OkStatus();
  int err = errno;
  if (err == EINVAL) {
    return absl::NotFoundError(fmt::format("unmount {}: nothing is mounted there", target));
  }
  return PosixError(fmt::format("unmount {}", target), err);
}

Status LinuxHost::UnmountLazily(const std::string& target) {
  if (::umount2(target.c_str(), MNT_DETACH) == 0) return absl::OkStatus();
  int err = errno;
  if (err == EINVAL) {
    return absl::NotFoundError(fmt::format("unmount {}: nothing is mounted there", target));
  }
  return PosixError(fmt::format("lazy unmount {}", target), err);
}

StatusOr<std::vector<MountEntry>> LinuxHost::ListMounts() {
  ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/mountinfo"));
  return ParseMountInfo(text);
}

// ---- external tools ----

StatusOr<CommandResult> LinuxHost::Run(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("cannot run an empty command");
  ASSIGN_OR_RETURN(std::string path, ResolveTool(argv[0]));

  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed (other threads may hold malloc locks).
  std::vector<char*> child_argv;
  for (const std::string& arg : argv) child_argv.push_back(const_cast<char*>(arg.c_str()));
  child_argv.push_back(nullptr);
  std::string path_env = fmt::format("PATH={}", kToolPath);
  std::string lang_env = "LANG=C";
  char* child_envp[] = {path_env.data(), lang_env.data(), nullptr};

  ASSIGN_OR_RETURN(ScopedFd dev_null, Open("/dev/null", O_RDONLY));
  int out_pipe[2], err_pipe[2], report_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return PosixError("create stdout pipe", errno);
  ScopedFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return PosixError("create stderr pipe", errno);
  ScopedFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  if (::pipe2(report_pipe, O_CLOEXEC) != 0) return PosixError("create exec pipe", errno);
  ScopedFd report_read(report_pipe[0]), report_write(report_pipe[1]);

  pid_t pid = ::fork();
  if (pid < 0) return PosixError(fmt::format("fork to run {}", path), errno);
  if (pid == 0) {
    ExecChild(path.c_str(), child_argv.data(), child_envp, dev_null.get(), out_write.get(),
              err_write.get(), report_write.get());
  }
  out_write.Reset();
  err_write.Reset();
  report_write.Reset();
  dev_null.Reset();

  const auto deadline = std::chrono::steady_clock::now() + command_timeout_;
  // Waits for the child until the deadline; past it, kills the child (ours,
  // by PID) and gives it a moment to go.
  auto reap = [pid, deadline, &path, this]() -> StatusOr<int> {
    int wstatus = 0;
    bool killed = false;
    auto kill_deadline = deadline;
    while (true) {
      pid_t done = RetryOnEintr([&] { return ::waitpid(pid, &wstatus, WNOHANG); });
      if (done < 0) return PosixError(fmt::format("wait for process {}", pid), errno);
      if (done == pid) break;
      auto now = std::chrono::steady_clock::now();
      if (!killed && now >= deadline) {
        ::kill(pid, SIGKILL);
        killed = true;
        kill_deadline = now + std::chrono::seconds(5);
      } else if (killed && now >= kill_deadline) {
        return absl::DeadlineExceededError(fmt::format(
            "{} (process {}) did not finish within {} ms and did not die when killed; it is "
            "stuck in the kernel: check the device it works on",
            path, pid, command_timeout_.count()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(killed ? 10 : 1));
    }
    if (killed) {
      return absl::DeadlineExceededError(fmt::format(
          "{} did not finish within {} ms and was killed; check the device it works on, then "
          "retry",
          path, command_timeout_.count()));
    }
    if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
    return -1;
  };

  // The report pipe closes on a successful execve, or carries its errno.
  int exec_errno = 0;
  ssize_t n = RetryOnEintr([&] { return ::read(report_read.get(), &exec_errno, sizeof(int)); });
  if (n == sizeof(int)) {
    (void)reap();
    Status status = PosixError(fmt::format("execute {}", path), exec_errno);
    if (exec_errno == ENOENT) {
      std::string_view package = PackageFor(argv[0]);
      return absl::NotFoundError(
          fmt::format("{}{}", std::string(status.message()),
                      package.empty() ? std::string()
                                      : fmt::format("; install the Debian package {}", package)));
    }
    return status;
  }

  CommandResult result;
  Status drained = DrainPipes(out_read.get(), err_read.get(), result.stdout_text,
                              result.stderr_text, deadline);
  out_read.Reset();  // a child still writing gets SIGPIPE instead of blocking us
  err_read.Reset();
  ASSIGN_OR_RETURN(result.exit_code, reap());
  RETURN_IF_ERROR(drained);
  return result;
}

}  // namespace ditto::host
