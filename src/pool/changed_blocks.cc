#include "pool/changed_blocks.h"

#include <algorithm>

namespace ditto::pool {
namespace {

// Extents sorted by logical offset, cut to [0, size).
std::vector<host::Extent> Clipped(std::vector<host::Extent> extents, uint64_t size) {
  std::sort(extents.begin(), extents.end(),
            [](const host::Extent& a, const host::Extent& b) { return a.logical < b.logical; });
  std::vector<host::Extent> out;
  out.reserve(extents.size());
  for (host::Extent extent : extents) {
    if (extent.length == 0 || extent.logical >= size) continue;
    extent.length = std::min(extent.length, size - extent.logical);
    out.push_back(extent);
  }
  return out;
}

void Append(std::vector<ByteRange>& ranges, uint64_t offset, uint64_t length) {
  if (length == 0) return;
  if (!ranges.empty() && ranges.back().offset + ranges.back().length == offset) {
    ranges.back().length += length;
  } else {
    ranges.push_back({offset, length});
  }
}

// Walks an extent list in logical order: at a position, what is mapped there
// (if anything) and where the current piece ends.
class Cursor {
 public:
  explicit Cursor(const std::vector<host::Extent>& extents) : extents_(extents) {}
  // Moves to `position` (never backwards).
  void Seek(uint64_t position) {
    while (index_ < extents_.size() &&
           extents_[index_].logical + extents_[index_].length <= position) {
      ++index_;
    }
  }
  bool MappedAt(uint64_t position) const {
    return index_ < extents_.size() && extents_[index_].logical <= position;
  }
  uint64_t PhysicalAt(uint64_t position) const {
    const host::Extent& e = extents_[index_];
    return e.physical + (position - e.logical);
  }
  // The next position after `position` where the mapping may change.
  uint64_t NextBoundary(uint64_t position, uint64_t end) const {
    if (index_ >= extents_.size()) return end;
    const host::Extent& e = extents_[index_];
    if (e.logical > position) return std::min(e.logical, end);
    return std::min(e.logical + e.length, end);
  }

 private:
  const std::vector<host::Extent>& extents_;
  size_t index_ = 0;
};

}  // namespace

std::vector<ByteRange> AllocatedRanges(const std::vector<host::Extent>& extents, uint64_t size) {
  std::vector<ByteRange> ranges;
  uint64_t covered = 0;  // FIEMAP never overlaps, but never report a byte twice
  for (const host::Extent& extent : Clipped(extents, size)) {
    uint64_t begin = std::max(extent.logical, covered);
    uint64_t end = extent.logical + extent.length;
    if (end <= begin) continue;
    Append(ranges, begin, end - begin);
    covered = end;
  }
  return ranges;
}

std::vector<ByteRange> ChangedRanges(const std::vector<host::Extent>& base,
                                     const std::vector<host::Extent>& target, uint64_t size) {
  std::vector<host::Extent> a = Clipped(base, size);
  std::vector<host::Extent> b = Clipped(target, size);
  std::vector<ByteRange> ranges;
  Cursor in_base(a);
  Cursor in_target(b);
  uint64_t position = 0;
  while (position < size) {
    in_base.Seek(position);
    in_target.Seek(position);
    bool base_mapped = in_base.MappedAt(position);
    bool target_mapped = in_target.MappedAt(position);
    uint64_t next = std::min(in_base.NextBoundary(position, size),
                             in_target.NextBoundary(position, size));
    if (!base_mapped && !target_mapped) {
      position = next;  // a hole in both
      continue;
    }
    bool changed = base_mapped != target_mapped ||
                   in_base.PhysicalAt(position) != in_target.PhysicalAt(position);
    if (changed) Append(ranges, position, next - position);
    position = next;
  }
  return ranges;
}

std::vector<DeltaRange> DeltaRanges(const std::vector<host::Extent>& base,
                                    const std::vector<host::Extent>& target, uint64_t size) {
  std::vector<ByteRange> changed = ChangedRanges(base, target, size);
  std::vector<ByteRange> data = AllocatedRanges(target, size);
  std::vector<DeltaRange> out;
  auto append = [&out](uint64_t offset, uint64_t length, bool zero) {
    if (length == 0) return;
    if (!out.empty() && out.back().zero == zero &&
        out.back().offset + out.back().length == offset) {
      out.back().length += length;
    } else {
      out.push_back({offset, length, zero});
    }
  };
  size_t d = 0;
  for (const ByteRange& range : changed) {
    uint64_t at = range.offset;
    const uint64_t end = range.offset + range.length;
    while (at < end) {
      while (d < data.size() && data[d].offset + data[d].length <= at) ++d;
      if (d == data.size() || data[d].offset >= end) {
        append(at, end - at, /*zero=*/true);
        break;
      }
      if (data[d].offset > at) {
        append(at, data[d].offset - at, /*zero=*/true);
        at = data[d].offset;
      }
      uint64_t piece_end = std::min(end, data[d].offset + data[d].length);
      append(at, piece_end - at, /*zero=*/false);
      at = piece_end;
    }
  }
  return out;
}

namespace {

template <typename Range>
std::vector<Range> CutFrom(const std::vector<Range>& ranges, uint64_t start) {
  auto first = std::upper_bound(
      ranges.begin(), ranges.end(), start,
      [](uint64_t value, const Range& range) { return value < range.offset + range.length; });
  std::vector<Range> out(first, ranges.end());
  if (!out.empty() && out.front().offset < start) {
    out.front().length -= start - out.front().offset;
    out.front().offset = start;
  }
  return out;
}

}  // namespace

std::vector<ByteRange> RangesFrom(const std::vector<ByteRange>& ranges, uint64_t start) {
  return CutFrom(ranges, start);
}

std::vector<DeltaRange> RangesFrom(const std::vector<DeltaRange>& ranges, uint64_t start) {
  return CutFrom(ranges, start);
}

}  // namespace ditto::pool
