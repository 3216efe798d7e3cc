// Where a pool keeps an image, whatever its backend, for tests that look at a
// pool's files from outside: DATA/KIND/<id>.img (reflink-files) or
// DATA/KIND/<id>/disk.img (btrfs-subvolumes), KIND "volumes" or "snapshots".
#pragma once

#include <string>
#include <string_view>

namespace ditto::test {

// The backend is read from the pool's pool.json (in DATA or its parent).
std::string PoolImagePath(const std::string& data_dir, std::string_view kind,
                          const std::string& id);

// The image of volume `id` of the pool at `pool_dir`, whose data directory
// is the pool directory itself or its data/ (a pool on its own filesystem),
// or "" when neither holds it.
std::string FindVolumeImage(const std::string& pool_dir, const std::string& id);

// The id an entry of DATA/KIND names ("vol-x.img" or the subvolume "vol-x").
std::string PoolEntryId(std::string_view entry_name);

}  // namespace ditto::test
