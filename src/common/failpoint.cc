#include "common/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ditto {

const std::vector<std::string_view>& AllFailpoints() {
  static const std::vector<std::string_view> kAll = {
      // pool: create / clone / restore / snapshot / expand / delete
      "pool.create.after_image",
      "pool.create.after_rename",
      "pool.clone.frozen",
      "pool.clone.after_reflink",
      "pool.clone.after_rename",
      "pool.restore.frozen",
      "pool.restore.after_reflink",
      "pool.restore.after_rename",
      "pool.snapshot.frozen",
      "pool.snapshot.after_reflink",
      "pool.snapshot.after_rename",
      "pool.expand.after_intent",
      "pool.expand.after_resize",
      "pool.delete_volume.after_commit",
      "pool.delete_snapshot.after_commit",
      "pool.group_snapshot.frozen",
      // node: stage / publish / unstage / unpublish
      "node.stage.after_attach",
      "node.stage.after_format",
      "node.stage.after_mount",
      "node.publish.after_mount",
      "node.unpublish.after_unmount",
      "node.unstage.after_unmount",
      "node.unstage.after_detach",
      // csi: the pool has committed, the reply is not sent yet
      "csi.create_volume.before_reply",
      "csi.create_snapshot.before_reply",
  };
  return kAll;
}

Status Failpoint(std::string_view name) {
  const auto& all = AllFailpoints();
  if (std::find(all.begin(), all.end(), name) == all.end()) {
    spdlog::critical("failpoint '{}' is not listed in AllFailpoints()", name);
    std::abort();
  }
  const char* spec = std::getenv("DITTO_FAILPOINTS");
  if (spec == nullptr || *spec == '\0') return absl::OkStatus();
  std::string_view rest(spec);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t equals = item.find('=');
    if (item.substr(0, equals) != name) continue;
    std::string_view action =
        equals == std::string_view::npos ? std::string_view("crash") : item.substr(equals + 1);
    if (action == "error") {
      return absl::InternalError(
          fmt::format("failpoint {} injected an error (unset DITTO_FAILPOINTS to stop)", name));
    }
    spdlog::warn("failpoint {}: crashing the process", name);
    spdlog::default_logger()->flush();
    kill(getpid(), SIGKILL);
    _exit(137);
  }
  return absl::OkStatus();
}

}  // namespace ditto
