// A crash inside the freeze window never leaves an application frozen. A
// clone or snapshot of a mounted volume runs between FIFREEZE and FITHAW; for
// each failpoint inside that window, a separate process keeps writing and
// fsyncing files into the mounted source, dittod is killed (SIGKILL) there,
// and the writer must make progress again within seconds of dittod's
// restart (dittod thaws what ditto may have frozen when it starts). The
// retried request then succeeds.
//
// Prints "N crashes inside the freeze window, 0 applications left frozen".
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdio>

#include "common/failpoint.h"
#include "fmt/format.h"
#include "host/linux_host.h"
#include "reliability/daemon_fixture.h"
#include "support/test_data.h"

namespace ditto::reliability {
namespace {

using namespace std::chrono_literals;

// A child process writing `dir`/w-<n> (4 KiB, fsynced) in a loop; one byte on
// a pipe per completed write. Killed (by its PID) when this goes away; the
// filesystem is thawed first, or the child could not die while frozen.
class Writer {
 public:
  explicit Writer(std::string dir) : dir_(std::move(dir)) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    std::string pattern = fmt::format("{}/w-", dir_);
    std::string block(4096, 'w');
    pid_ = ::fork();
    if (pid_ == 0) {
      // Child: async-signal-safe calls only.
      ::close(fds[0]);
      char path[4096];
      for (unsigned n = 0;; n = (n + 1) % 64) {
        size_t len = pattern.size();
        if (len + 4 >= sizeof(path)) ::_exit(2);
        __builtin_memcpy(path, pattern.data(), len);
        path[len] = static_cast<char>('0' + n / 10);
        path[len + 1] = static_cast<char>('0' + n % 10);
        path[len + 2] = '\0';
        int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) ::_exit(3);
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
            ::fsync(fd) != 0) {
          ::_exit(4);
        }
        ::close(fd);
        if (::write(fds[1], "x", 1) != 1) ::_exit(5);
      }
    }
    ::close(fds[1]);
    progress_fd_ = fds[0];
  }
  ~Writer() {
    if (pid_ > 0) {
      host::LinuxHost host;
      (void)host.Thaw(dir_);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (progress_fd_ >= 0) ::close(progress_fd_);
  }
  bool started() const { return pid_ > 0 && progress_fd_ >= 0; }

  // Whether the writer completes `writes` writes within `timeout`.
  bool Progresses(int writes, std::chrono::milliseconds timeout) {
    auto give_up = std::chrono::steady_clock::now() + timeout;
    int done = 0;
    while (done < writes) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          give_up - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      struct pollfd poller = {progress_fd_, POLLIN, 0};
      if (::poll(&poller, 1, static_cast<int>(left.count())) <= 0) return false;
      char buffer[256];
      ssize_t got = ::read(progress_fd_, buffer, sizeof(buffer));
      if (got <= 0) return false;  // the writer died
      done += static_cast<int>(got);
    }
    return true;
  }
  // Throws away progress reported so far.
  void Drain() {
    char buffer[4096];
    struct pollfd poller = {progress_fd_, POLLIN, 0};
    while (::poll(&poller, 1, 0) > 0 && ::read(progress_fd_, buffer, sizeof(buffer)) > 0) {
    }
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int progress_fd_ = -1;
};

class FrozenCrashTest : public DaemonTest {};

TEST_F(FrozenCrashTest, CrashInsideTheFreezeWindowLeavesNoApplicationFrozen) {
  const std::vector<std::string> failpoints = {"pool.clone.frozen", "pool.snapshot.frozen"};
  for (const auto& failpoint : failpoints) {
    const auto& all = AllFailpoints();
    ASSERT_NE(std::find(all.begin(), all.end(), failpoint), all.end())
        << failpoint << " is not a failpoint";
  }
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  pb::CreateVolumeResponse source;
  ASSERT_TRUE(csi().CreateVolume(VolumeRequest("frozen-source", 64 << 20), &source).ok());
  const std::string source_id = source.volume().volume_id();
  const std::string staging = work_.StagingPath("frozen-source");
  const std::string target = work_.TargetPath("frozen-source");
  ASSERT_TRUE(csi().NodeStage(source_id, staging).ok());
  ASSERT_TRUE(csi().NodePublish(source_id, staging, target).ok());
  // Some data, so the clone has extents to share.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(
        WriteFileSynced(fmt::format("{}/data-{}", target, i), test::PatternData(512 << 10, i))
            .ok());
  }
  auto writer_owner = std::make_unique<Writer>(target);
  Writer& writer = *writer_owner;
  ASSERT_TRUE(writer.started());
  ASSERT_TRUE(writer.Progresses(20, 10s)) << "the writer does not write at all";

  int crashes = 0, left_frozen = 0;
  for (const auto& failpoint : failpoints) {
    SCOPED_TRACE(failpoint);
    const bool clone = failpoint.starts_with("pool.clone.");
    const std::string name = clone ? "frozen-clone" : "frozen-snap";
    ASSERT_NO_FATAL_FAILURE(StartDaemon(failpoint + "=crash"));
    grpc::Status crashed = clone ? csi().CreateVolume(CloneRequest(name, source_id))
                                 : csi().CreateSnapshot(name, source_id);
    auto exit = daemon().WaitForExit(20s);
    ASSERT_TRUE(exit.ok()) << failpoint << " was not reached (" << Describe(crashed) << ")";
    ASSERT_TRUE(WIFSIGNALED(*exit) && WTERMSIG(*exit) == SIGKILL);
    ++crashes;
    // The crash left the source frozen: the writer is stuck (this is what
    // the restart must undo).
    writer.Drain();
    EXPECT_FALSE(writer.Progresses(1, 1500ms))
        << "the writer kept writing: the source was not frozen at " << failpoint;

    auto restart = std::chrono::steady_clock::now();
    ASSERT_NO_FATAL_FAILURE(StartDaemon());
    bool thawed = writer.Progresses(10, 5s);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - restart).count();
    EXPECT_TRUE(thawed) << "the application stayed frozen after dittod's restart";
    if (!thawed) {
      ++left_frozen;
      host::LinuxHost host;
      (void)host.Thaw(target);  // so the rest of the test can run
    }
    std::printf("frozen crash: %s: the writer wrote again %.1f s after dittod restarted\n",
                failpoint.c_str(), seconds);

    grpc::Status retried = clone ? csi().CreateVolume(CloneRequest(name, source_id))
                                 : csi().CreateSnapshot(name, source_id);
    EXPECT_TRUE(retried.ok()) << "retry after the crash: " << Describe(retried);
    EXPECT_TRUE(writer.Progresses(5, 5s)) << "the writer is stuck after the retried request";
  }

  writer_owner.reset();
  EXPECT_TRUE(csi().NodeUnpublish(source_id, target).ok());
  EXPECT_TRUE(csi().NodeUnstage(source_id, staging).ok());
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  auto problems = PoolProblems();
  EXPECT_TRUE(problems.empty()) << JoinLines(problems);
  std::printf("frozen crash: %d crashes inside the freeze window, %d applications left frozen\n",
              crashes, left_frozen);
  EXPECT_EQ(left_frozen, 0);
  EXPECT_EQ(crashes, 2) << "docs/reliability.md gives 2 crashes inside the freeze window (clone, snapshot)";
}

}  // namespace
}  // namespace ditto::reliability
