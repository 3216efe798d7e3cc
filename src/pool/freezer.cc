#include "pool/freezer.h"

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/failpoint.h"
#include "fmt/format.h"
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

Status RunFrozen(host::Host& host, const std::string& mount_point, std::chrono::milliseconds limit,
                 std::string_view failpoint, const std::function<void()>& prepare,
                 const std::function<Status()>& step) {
  auto run = [&]() -> Status {
    RETURN_IF_ERROR(Failpoint(failpoint));
    return step();
  };
  if (mount_point.empty()) {
    prepare();
    return run();
  }
  auto turn = FreezeTurn(mount_point);  // released after the thaw below
  // Most dirty data goes out while the application still runs.
  Status flushed = host.SyncFilesystem(mount_point);
  if (!flushed.ok()) {
    spdlog::warn("cannot flush {} before freezing it: {}", mount_point,
                 std::string(flushed.message()));
  }
  prepare();
  Status frozen = host.Freeze(mount_point);
  if (!frozen.ok()) {
    spdlog::warn("cannot freeze {} for a consistent copy: {}; copying it unfrozen", mount_point,
                 std::string(frozen.message()));
    return run();
  }
  int64_t started = NowNanos();
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false, expired = false;
  std::thread watchdog([&] {
    std::unique_lock lock(mu);
    if (done_cv.wait_for(lock, limit, [&] { return done; })) return;
    expired = true;
    Status thawed = host.Thaw(mount_point);
    spdlog::error("{} stayed frozen for {} ms, the limit: thawed it{}; the copy is abandoned",
                  mount_point, limit.count(),
                  thawed.ok() ? "" : fmt::format(" (thaw failed: {})", std::string(thawed.message())));
  });
  Status result = run();
  {
    std::lock_guard lock(mu);
    done = true;
  }
  done_cv.notify_all();
  watchdog.join();
  int64_t frozen_ms = (NowNanos() - started) / 1000000;
  if (expired) {
    return absl::DeadlineExceededError(fmt::format(
        "the copy kept {} frozen past the {} ms limit, so it was thawed and the copy abandoned; "
        "retry (on an XFS pool a volume split into many extents copies slowly: a btrfs pool "
        "clones in constant time)",
        mount_point, limit.count()));
  }
  Status thawed = host.Thaw(mount_point);
  if (!thawed.ok()) {
    spdlog::error("cannot thaw {}: {}", mount_point, std::string(thawed.message()));
  }
  spdlog::debug("{} was frozen for {} ms", mount_point, frozen_ms);
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
