// The freeze window of a clone or snapshot of a mounted volume: its
// filesystem is frozen (FIFREEZE) around the copy step alone, so the copy
// holds every write acknowledged before it, and never for longer than a
// limit: a watchdog thaws it then and the operation fails. A process that
// dies while a filesystem is frozen leaves it frozen; Pool::Open thaws every
// filesystem ditto may have frozen (see ThawStagedFilesystems).
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "catalog/catalog.h"
#include "common/status.h"
#include "host/host.h"

namespace ditto::pool {

inline constexpr std::chrono::milliseconds kDefaultFreezeLimit{30000};

// Runs `step` with the filesystem mounted at `mount_point` frozen ("" runs it
// unfrozen), the failpoint `failpoint` inside the window. Flushes the
// filesystem first, so the freeze itself has little left to write. When the
// freeze fails the step runs unfrozen (logged: the copy is then only
// crash-consistent). DeadlineExceeded when the step outlived `limit` (the
// filesystem was thawed at the limit and the step's result is not to be used).
// `prepare` runs after that flush, just before the freeze.
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
