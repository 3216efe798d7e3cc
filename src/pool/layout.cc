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
  if (json.is_discarded() || !json.is_object() || json.value("version", 0) != 1) {
    return absl::DataLossError(fmt::format(
        "{} is damaged or of an unknown version; restore it from a backup or re-create the pool",
        path));
  }
  PoolLayout layout;
  layout.dir = dir;
  layout.backing_file = json.value("backing_file", false);
  layout.backing_size_bytes = json.value("backing_size_bytes", uint64_t{0});
  layout.data_dir = layout.backing_file ? JoinPath(dir, "data") : dir;
  return layout;
}

Status WriteLayout(host::Host& host, const PoolLayout& layout) {
  nlohmann::json json = {
      {"version", 1},
      {"backing_file", layout.backing_file},
      {"backing_size_bytes", layout.backing_size_bytes},
  };
  return host.WriteFileAtomically(JoinPath(layout.dir, kLayoutFileName), json.dump(2) + "\n");
}

}  // namespace ditto::pool
