#include "pool/freezer.h"

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/failpoint.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {

std::unique_lock<std::mutex> FreezeTurn(const std::string& mount_point) {
  static std::mutex turns_mutex;
  static auto* turns = new std::map<std::string, std::unique_ptr<std::mutex>>;
  std::mutex* turn;
  {
    std::lock_guard lock(turns_mutex);
    auto& slot = (*turns)[mount_point];
    if (!slot) slot = std::make_unique<std::mutex>();
    turn = slot.get();
  }
  return std::unique_lock<std::mutex>(*turn);
}

FreezeWindow::FreezeWindow(host::Host& host, std::chrono::milliseconds limit)
    : host_(host), limit_(limit) {}

FreezeWindow::~FreezeWindow() { (void)Close(); }

Status FreezeWindow::Freeze(const std::string& mount_point) {
  if (result_) {
    return absl::FailedPreconditionError(
        fmt::format("cannot freeze {}: this freeze window is already closed", mount_point));
  }
  turns_.push_back(FreezeTurn(mount_point));
  RETURN_IF_ERROR(host_.Freeze(mount_point));
  std::lock_guard lock(mu_);
  if (expired_) {
    // The watchdog closed the window while this one froze.
    Status thawed = host_.Thaw(mount_point);
    if (!thawed.ok()) {
      spdlog::error("cannot thaw {}: {}; run fsfreeze --unfreeze {}", mount_point,
                    std::string(thawed.message()), mount_point);
    }
    return absl::DeadlineExceededError(
        fmt::format("the freeze window reached its {} ms limit before {} was frozen; retry",
                    limit_.count(), mount_point));
  }
  frozen_.push_back(mount_point);
  if (!watchdog_.joinable()) {
    first_frozen_ns_ = NowNanos();
    watchdog_ = std::thread([this] {
      std::unique_lock watch(mu_);
      if (closing_.wait_for(watch, limit_, [this] { return closed_; })) return;
      expired_ = true;
      spdlog::error("{} stayed frozen for {} ms, the limit: thawing it; the work done frozen is "
                    "abandoned",
                    fmt::join(frozen_, ", "), limit_.count());
      ThawAllLocked();
    });
  }
  return absl::OkStatus();
}

void FreezeWindow::ThawAllLocked() {
  for (auto it = frozen_.rbegin(); it != frozen_.rend(); ++it) {
    Status thawed = host_.Thaw(*it);
    if (!thawed.ok()) {
      spdlog::error("cannot thaw {}: {}; run fsfreeze --unfreeze {}", *it,
                    std::string(thawed.message()), *it);
    }
  }
  frozen_.clear();
}

Status FreezeWindow::Close() {
  if (result_) return *result_;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  closing_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  std::lock_guard lock(mu_);
  if (expired_) {
    result_ = absl::DeadlineExceededError(fmt::format(
        "the filesystems were kept frozen past the {} ms limit, so they were thawed and the work "
        "done frozen abandoned; retry",
        limit_.count()));
  } else {
    if (!frozen_.empty()) {
      spdlog::debug("{} frozen for {} ms", fmt::join(frozen_, ", "),
                    (NowNanos() - first_frozen_ns_) / 1000000);
    }
    ThawAllLocked();
    result_ = absl::OkStatus();
  }
  return *result_;
}

Status RunFrozen(host::Host& host, const std::string& mount_point, std::chrono::milliseconds limit,
                 std::string_view failpoint, const std::function<void()>& prepare,
                 const std::function<Status()>& step) {
  auto run = [&]() -> Status {
    if (!failpoint.empty()) RETURN_IF_ERROR(Failpoint(failpoint));
    return step();
  };
  // Nothing to freeze: `prepare` only shortens a window, and there is none.
  if (mount_point.empty()) return run();
  // Most dirty data goes out while the application still runs.
  Status flushed = host.SyncFilesystem(mount_point);
  if (!flushed.ok()) {
    spdlog::warn("cannot flush {} before freezing it: {}", mount_point,
                 std::string(flushed.message()));
  }
  prepare();
  FreezeWindow window(host, limit);
  Status frozen = window.Freeze(mount_point);
  if (!frozen.ok()) {
    spdlog::warn("cannot freeze {} for a consistent copy: {}; copying it unfrozen", mount_point,
                 std::string(frozen.message()));
    return run();
  }
  Status result = run();
  Status closed = window.Close();
  if (!closed.ok()) {
    return Status(closed.code(),
                  fmt::format("the copy kept {} frozen past the {} ms limit, so it was thawed and "
                              "the copy abandoned; retry (on an XFS pool a volume split into many "
                              "extents copies slowly: a btrfs pool clones in constant time)",
                              mount_point, limit.count()));
  }
  return result;
}

StatusOr<int> ThawStagedFilesystems(host::Host& host, catalog::Catalog& catalog) {
  ASSIGN_OR_RETURN(auto stages, catalog.ListStages());
  int thawed = 0;
  for (const auto& stage : stages) {
    if (stage.block || stage.staging_path.empty()) continue;
    Status status = host.Thaw(stage.staging_path);
    if (status.ok()) {
      ++thawed;
      spdlog::warn("thawed {} (volume {}): an interrupted clone or snapshot left it frozen",
                   stage.staging_path, stage.volume_id);
    } else if (!absl::IsInvalidArgument(status) && !absl::IsNotFound(status)) {
      spdlog::warn("cannot thaw {} (volume {}): {}", stage.staging_path, stage.volume_id,
                   std::string(status.message()));
    }
  }
  return thawed;
}

}  // namespace ditto::pool
