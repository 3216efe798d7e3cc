#include "pool/layout.h"

#include <nlohmann/json.hpp>

#include "fmt/format.h"
#include "pool/path.h"
#include "pool/pool.h"

namespace ditto::pool {

StatusOr<PoolLayout> ReadLayout(host::Host& host, const std::string& dir) {
  std::string path = JoinPath(dir, kLayoutFileName);
  auto text = host.ReadFile(path);
  if (absl::IsNotFound(text.status())) {
    return absl::FailedPreconditionError(fmt::format(
        "{} is not a ditto pool (no {}); create one with `dittoctl pool init {}`", dir,
        kLayoutFileName, dir));
  }
  if (!text.ok()) return text.status();
  auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  int version = json.is_object() ? json.value("version", 0) : 0;
  if (json.is_discarded() || !json.is_object() || version < 1 || version > 2) {
    return absl::DataLossError(fmt::format(
        "{} is damaged or of an unknown version; restore it from a backup or re-create the pool",
        path));
  }
  PoolLayout layout;
  layout.dir = dir;
  // Version 1 (before backends) pools are reflink files on XFS.
  layout.backend = json.value("backend", std::string(kReflinkFilesBackend));
  layout.backing_file = json.value("backing_file", false);
  layout.backing_size_bytes = json.value("backing_size_bytes", uint64_t{0});
  layout.backing_fs = json.value("backing_fs", std::string("xfs"));
  layout.device = json.value("device", std::string());
  layout.device_uuid = json.value("device_uuid", std::string());
  layout.data_dir = layout.backing_file || !layout.device_uuid.empty() ? JoinPath(dir, "data") : dir;
  return layout;
}

Status WriteLayout(host::Host& host, const PoolLayout& layout) {
  nlohmann::json json = {
      {"version", 2},
      {"backend", layout.backend},
      {"backing_file", layout.backing_file},
      {"backing_size_bytes", layout.backing_size_bytes},
  };
  if (layout.backing_file || !layout.device_uuid.empty()) json["backing_fs"] = layout.backing_fs;
  if (!layout.device_uuid.empty()) {
    json["device"] = layout.device;
    json["device_uuid"] = layout.device_uuid;
  }
  return host.WriteFileAtomically(JoinPath(layout.dir, kLayoutFileName), json.dump(2) + "\n");
}

}  // namespace ditto::pool
