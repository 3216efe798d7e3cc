// Changed-block metadata from extent maps (FIEMAP), for the CSI
// SnapshotMetadata service and `dittoctl snapshot diff`.
//
// A snapshot image is a reflink of its volume's image, so two snapshots of one
// volume share the physical extents of every block written before the older
// one and not since: a logical range is unchanged between them exactly when it
// maps to the same physical bytes in both (or is a hole in both). Ranges are
// in bytes, ascending, non-overlapping and merged when adjacent, at the
// filesystem's block granularity; a range never reaches past `size`.
#pragma once

#include <cstdint>
#include <vector>

#include "host/host.h"

namespace ditto::pool {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const ByteRange&) const = default;
};

// The ranges of [0, size) that hold data (allocated extents).
std::vector<ByteRange> AllocatedRanges(const std::vector<host::Extent>& extents, uint64_t size);

// The ranges of [0, size) whose contents may differ between `base` and
// `target`: mapped to different physical bytes, or data in one and a hole in
// the other. Holes in both, or the same physical bytes, are unchanged.
std::vector<ByteRange> ChangedRanges(const std::vector<host::Extent>& base,
                                     const std::vector<host::Extent>& target, uint64_t size);

// What turns an image equal to `base` into one equal to `target`: the
// changed ranges (ChangedRanges), each cut into the pieces that hold data
// in `target` (to be written) and those that are holes there (`zero`: to
// read as zeros). Ascending, non-overlapping; adjacent pieces of one kind
// merged.
struct DeltaRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool zero = false;
  bool operator==(const DeltaRange&) const = default;
};
std::vector<DeltaRange> DeltaRanges(const std::vector<host::Extent>& base,
                                    const std::vector<host::Extent>& target, uint64_t size);

// The ranges that end after `start`, the first one cut to begin at `start`
// (a resumed stream repeats no byte before it).
std::vector<ByteRange> RangesFrom(const std::vector<ByteRange>& ranges, uint64_t start);
std::vector<DeltaRange> RangesFrom(const std::vector<DeltaRange>& ranges, uint64_t start);

}  // namespace ditto::pool
