// LinuxHost: external tools (mkfs, resize, fsck, ...), run with execve and an
// argv array, never a shell, with their output and exit code.
#include "host/linux_host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
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

}  // namespace

// Kept in one piece: fork and execve must share the prepared argv,
// environment and pipes; only async-signal-safe calls run between them.
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
