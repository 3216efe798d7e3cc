#include "support/pool_paths.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fmt/format.h"

namespace ditto::test {
namespace {

bool SubvolumePool(const std::string& data_dir) {
  std::string parent = data_dir.substr(0, data_dir.rfind('/'));
  for (const std::string& dir : {data_dir, parent}) {
    std::ifstream in(dir + "/pool.json");
    if (!in) continue;
    std::stringstream text;
    text << in.rdbuf();
    auto json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (json.is_object()) return json.value("backend", std::string()) == "btrfs-subvolumes";
  }
  return false;
}

}  // namespace

std::string PoolImagePath(const std::string& data_dir, std::string_view kind,
                          const std::string& id) {
  if (SubvolumePool(data_dir)) return fmt::format("{}/{}/{}/disk.img", data_dir, kind, id);
  return fmt::format("{}/{}/{}.img", data_dir, kind, id);
}

std::string FindVolumeImage(const std::string& pool_dir, const std::string& id) {
  for (const std::string& data_dir : {pool_dir, pool_dir + "/data"}) {
    std::string image = PoolImagePath(data_dir, "volumes", id);
    if (std::ifstream(image).good()) return image;
  }
  return "";
}

std::string PoolEntryId(std::string_view entry_name) {
  if (entry_name.ends_with(".img")) entry_name.remove_suffix(4);
  return std::string(entry_name);
}

}  // namespace ditto::test
