#include "cli/pool_sharing.h"

#include <algorithm>
#include <set>

namespace ditto::cli {

StatusOr<PoolSharing> MeasureSharing(pool::Pool& pool) {
  struct Range {
    uint64_t start, end;
    size_t image;
  };
  std::vector<std::string> ids;
  std::vector<std::string> paths;
  ASSIGN_OR_RETURN(auto volumes, pool.ListVolumes());
  for (const auto& v : volumes) {
    ids.push_back(v.id);
    paths.push_back(pool.VolumePath(v.id));
  }
  ASSIGN_OR_RETURN(auto snapshots, pool.ListSnapshots());
  for (const auto& s : snapshots) {
    ids.push_back(s.id);
    paths.push_back(pool.SnapshotPath(s.id));
  }
  PoolSharing sharing;
  std::vector<Range> ranges;
  for (size_t i = 0; i < paths.size(); ++i) {
    auto extents = pool.host().Extents(paths[i]);
    if (absl::IsNotFound(extents.status())) continue;  // deleted meanwhile
    RETURN_IF_ERROR(extents.status());
    for (const host::Extent& extent : *extents) {
      sharing.allocated_bytes += extent.length;
      ranges.push_back({extent.physical, extent.physical + extent.length, i});
    }
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.start < b.start; });
  std::vector<std::set<size_t>> partners(ids.size());
  // Sweep: the union of the ranges, and which images overlap each other.
  std::vector<Range> open;
  uint64_t covered_end = 0;
  for (const Range& range : ranges) {
    uint64_t start = std::max(range.start, covered_end);
    if (range.end > start) sharing.occupied_bytes += range.end - start;
    covered_end = std::max(covered_end, range.end);
    std::erase_if(open, [&](const Range& r) { return r.end <= range.start; });
    for (const Range& other : open) {
      if (other.image != range.image) {
        partners[range.image].insert(other.image);
        partners[other.image].insert(range.image);
      }
    }
    open.push_back(range);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    for (size_t j : partners[i]) sharing.shares_with[ids[i]].push_back(ids[j]);
  }
  return sharing;
}

}  // namespace ditto::cli
