#include "reliability/death_watch.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "fmt/format.h"
#include "support/temp_dir.h"

namespace ditto::reliability {
namespace {

// Mount points at or below `dir` (from /proc/self/mountinfo).
std::vector<std::string> MountsBelow(const std::string& dir) {
  std::vector<std::string> mounts;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, device, root, mount_point;
    fields >> id >> parent >> device >> root >> mount_point;
    if (mount_point.rfind(dir, 0) == 0) mounts.push_back(mount_point);
  }
  return mounts;
}

}  // namespace

DeathWatch::DeathWatch(pid_t pid, std::function<std::string()> log_tail, std::string workspace)
    : pid_(pid), log_tail_(std::move(log_tail)), workspace_(std::move(workspace)) {
  thread_ = std::thread([this] { Run(); });
}

DeathWatch::~DeathWatch() {
  stop_ = true;
  thread_.join();
}

void DeathWatch::Run() {
  while (!stop_) {
    siginfo_t info{};
    // WNOWAIT: the harness still reaps the process and reads its status.
    if (::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_) {
      std::fprintf(stderr,
                   "dittod (pid %d) died during the test (%s %d), ending the test now; its log "
                   "ends with:\n%s\n",
                   pid_, info.si_code == CLD_EXITED ? "exit code" : "signal", info.si_status,
                   log_tail_().c_str());
      // A filesystem it froze stays frozen: thaw every one of the
      // workspace, so that unmounting works and no writer stays blocked.
      for (const std::string& mount_point : MountsBelow(workspace_)) {
        int fd = ::open(mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) continue;
        (void)::ioctl(fd, FITHAW, 0);
        ::close(fd);
      }
      test::ReleaseMountsAndLoops(workspace_);
      std::fflush(nullptr);
      std::_Exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace ditto::reliability
