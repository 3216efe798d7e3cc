// Ends the test process at once when a dittod dies on its own while a test
// needs it (a sanitizer report stops it at the first finding): its clients,
// and a writer blocked on a filesystem it froze, would otherwise wait for it
// until ctest's timeout. Prints why and the daemon's log, thaws and releases
// the workspace's mounts and loop devices, and exits 1.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace ditto::reliability {

class DeathWatch {
 public:
  // Watches process `pid` (a child of this process) without reaping it.
  // `log_tail` gives the daemon's log; `workspace` holds every mount and
  // loop device of the test.
  DeathWatch(pid_t pid, std::function<std::string()> log_tail, std::string workspace);
  // Stops watching (before the daemon is stopped or killed on purpose).
  ~DeathWatch();
  DeathWatch(const DeathWatch&) = delete;
  DeathWatch& operator=(const DeathWatch&) = delete;

 private:
  void Run();

  pid_t pid_;
  std::function<std::string()> log_tail_;
  std::string workspace_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ditto::reliability
