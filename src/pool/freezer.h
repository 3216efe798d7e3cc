// The freeze window of a clone, snapshot, group snapshot or thick
// conversion of a mounted volume: its filesystem is frozen (FIFREEZE) around
// the copy step alone, so the copy holds every write acknowledged before it,
// and never for longer than a limit: a watchdog thaws it then and the
// operation fails. A process that
// dies while a filesystem is frozen leaves it frozen; Pool::Open thaws every
// filesystem ditto may have frozen (see ThawStagedFilesystems).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "common/status.h"
#include "host/host.h"

namespace ditto::pool {

inline constexpr std::chrono::milliseconds kDefaultFreezeLimit{30000};

// A freeze window over one or more mounted filesystems, bounded in time.
// Freeze() freezes one more (after taking its turn, see FreezeTurn); once
// `limit` has passed since the first freeze a watchdog thaws every one of
// them; Close() (or the destructor) thaws what is still frozen, in reverse
// order. Close() answers DeadlineExceeded when the watchdog thawed first:
// what was copied in the window is then not consistent and must be dropped.
// A window is used by one thread (the watchdog is its only other one).
class FreezeWindow {
 public:
  FreezeWindow(host::Host& host, std::chrono::milliseconds limit);
  ~FreezeWindow();
  FreezeWindow(const FreezeWindow&) = delete;
  FreezeWindow& operator=(const FreezeWindow&) = delete;

  // Freezes the filesystem mounted at `mount_point`. On error nothing more
  // is frozen (the ones frozen before stay frozen until Close()).
  Status Freeze(const std::string& mount_point);
  // Thaws everything; OK, or DeadlineExceeded when the limit was reached.
  // Idempotent: a second call answers as the first.
  Status Close();

 private:
  void ThawAllLocked();

  host::Host& host_;
  const std::chrono::milliseconds limit_;
  std::vector<std::unique_lock<std::mutex>> turns_;  // released last, after the thaws
  std::mutex mu_;
  std::condition_variable closing_;
  std::vector<std::string> frozen_;  // guarded by mu_
  bool closed_ = false;              // guarded by mu_
  bool expired_ = false;             // guarded by mu_
  int64_t first_frozen_ns_ = 0;
  std::optional<Status> result_;
  std::thread watchdog_;
};

// Runs `step` with the filesystem mounted at `mount_point` frozen ("" runs it
// unfrozen), the failpoint `failpoint` inside the window. Flushes the
// filesystem first, so the freeze itself has little left to write. When the
// freeze fails the step runs unfrozen (logged: the copy is then only
// crash-consistent). DeadlineExceeded when the step outlived `limit` (the
// filesystem was thawed at the limit and the step's result is not to be used).
// `prepare` runs after that flush, just before the freeze (not at all when
// nothing is frozen). `failpoint` (none when empty) fires inside the window.
Status RunFrozen(host::Host& host, const std::string& mount_point, std::chrono::milliseconds limit,
                 std::string_view failpoint, const std::function<void()>& prepare,
                 const std::function<Status()>& step);

// The turn of one mount point's freeze window, process-wide. FIFREEZE does
// not nest: a second copy of the same mounted volume at once would fail to
// freeze and copy unfrozen, or be thawed by the first in the middle of its
// copy. Hold it from before the freeze until after the thaw.
std::unique_lock<std::mutex> FreezeTurn(const std::string& mount_point);

// Thaws the filesystem of every staged mount volume (FITHAW on one that is
// not frozen does nothing): what a process that died inside a freeze window
// left frozen. Returns how many were frozen.
StatusOr<int> ThawStagedFilesystems(host::Host& host, catalog::Catalog& catalog);

}  // namespace ditto::pool
