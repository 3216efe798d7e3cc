// Changed-block metadata: the pure range logic on hand-made extent maps, and
// (as root) the delta of two real snapshots on XFS and btrfs checked against
// a byte-by-byte comparison of the two images.
#include "pool/changed_blocks.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "host/linux_host.h"
#include "pool/pool.h"
#include "pool/pool_on_loop_filesystem.h"
#include "support/loop_filesystem.h"
#include "support/require_root.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kBlock = 4 * kKiB;

host::Extent E(uint64_t logical, uint64_t physical, uint64_t length) {
  return host::Extent{logical, physical, length, false};
}

TEST(ChangedBlocksTest, AllocatedRangesMergeSortAndClip) {
  std::vector<host::Extent> extents = {E(8 * kBlock, 900 * kBlock, 2 * kBlock),
                                       E(0, 100 * kBlock, kBlock), E(kBlock, 500 * kBlock, kBlock),
                                       E(14 * kBlock, 50 * kBlock, 4 * kBlock)};
  EXPECT_EQ(AllocatedRanges(extents, 16 * kBlock),
            (std::vector<ByteRange>{{0, 2 * kBlock}, {8 * kBlock, 2 * kBlock},
                                    {14 * kBlock, 2 * kBlock}}));
  EXPECT_TRUE(AllocatedRanges({}, 16 * kBlock).empty());
}

TEST(ChangedBlocksTest, SamePhysicalIsUnchangedDifferentOrOneSidedIsChanged) {
  // base: blocks 0-7 at physical 100.., 12-13 at 300..
  std::vector<host::Extent> base = {E(0, 100 * kBlock, 8 * kBlock),
                                    E(12 * kBlock, 300 * kBlock, 2 * kBlock)};
  // target: block 3 rewritten (new physical), the rest of 0-7 shared (split
  // extents), 12-13 punched to a hole, 20 newly written.
  std::vector<host::Extent> target = {E(0, 100 * kBlock, 3 * kBlock),
                                      E(3 * kBlock, 700 * kBlock, kBlock),
                                      E(4 * kBlock, 104 * kBlock, 4 * kBlock),
                                      E(20 * kBlock, 800 * kBlock, kBlock)};
  EXPECT_EQ(ChangedRanges(base, target, 32 * kBlock),
            (std::vector<ByteRange>{{3 * kBlock, kBlock}, {12 * kBlock, 2 * kBlock},
                                    {20 * kBlock, kBlock}}));
  EXPECT_TRUE(ChangedRanges(base, base, 32 * kBlock).empty());
  // A target larger than the base: data past the base's end is changed.
  EXPECT_EQ(ChangedRanges(base, {E(0, 100 * kBlock, 8 * kBlock), E(40 * kBlock, 1, kBlock)},
                          64 * kBlock),
            (std::vector<ByteRange>{{12 * kBlock, 2 * kBlock}, {40 * kBlock, kBlock}}));
}

TEST(ChangedBlocksTest, RangesFromCutsTheFirstRangeAndDropsEarlierOnes) {
  std::vector<ByteRange> ranges = {{0, 10}, {20, 10}, {40, 10}};
  EXPECT_EQ(RangesFrom(ranges, 0), ranges);
  EXPECT_EQ(RangesFrom(ranges, 10), (std::vector<ByteRange>{{20, 10}, {40, 10}}));
  EXPECT_EQ(RangesFrom(ranges, 25), (std::vector<ByteRange>{{25, 5}, {40, 10}}));
  EXPECT_TRUE(RangesFrom(ranges, 50).empty());
}

TEST(ChangedBlocksTest, DeltaRangesWriteTheTargetsDataAndZeroItsNewHoles) {
  // base: blocks 0-7 at 100, 16-19 at 300. target: 0-3 shared, 4-5 rewritten,
  // 6-7 punched, 16-19 shared, 24-25 new data; 32 blocks in all.
  std::vector<host::Extent> base = {E(0, 100 * kBlock, 8 * kBlock),
                                    E(16 * kBlock, 300 * kBlock, 4 * kBlock)};
  std::vector<host::Extent> target = {E(0, 100 * kBlock, 4 * kBlock),
                                      E(4 * kBlock, 700 * kBlock, 2 * kBlock),
                                      E(16 * kBlock, 300 * kBlock, 4 * kBlock),
                                      E(24 * kBlock, 800 * kBlock, 2 * kBlock)};
  std::vector<DeltaRange> delta = DeltaRanges(base, target, 32 * kBlock);
  EXPECT_EQ(delta, (std::vector<DeltaRange>{{4 * kBlock, 2 * kBlock, false},
                                            {6 * kBlock, 2 * kBlock, true},
                                            {24 * kBlock, 2 * kBlock, false}}));
  // A data range and a hole side by side within one changed range, and the
  // target larger than the base (the tail is new).
  std::vector<DeltaRange> grown =
      DeltaRanges({E(0, 100 * kBlock, 4 * kBlock)},
                  {E(2 * kBlock, 900 * kBlock, 4 * kBlock)}, 8 * kBlock);
  EXPECT_EQ(grown, (std::vector<DeltaRange>{{0, 2 * kBlock, true},
                                            {2 * kBlock, 4 * kBlock, false}}));
  EXPECT_TRUE(DeltaRanges(base, base, 32 * kBlock).empty());
  EXPECT_EQ(RangesFrom(delta, 5 * kBlock),
            (std::vector<DeltaRange>{{5 * kBlock, kBlock, false},
                                     {6 * kBlock, 2 * kBlock, true},
                                     {24 * kBlock, 2 * kBlock, false}}));
}

// ---- on real filesystems ----

class DeltaOnFilesystem : public PoolOnLoopFilesystem {
 protected:
  DeltaOnFilesystem() : PoolOnLoopFilesystem(1024 * kMiB) {}
  std::vector<host::Extent> ExtentsOf(const std::string& path) {
    auto extents = host_.Extents(path);
    EXPECT_TRUE(extents.ok()) << extents.status();
    return extents.ok() ? *extents : std::vector<host::Extent>{};
  }

};

TEST_P(DeltaOnFilesystem, DeltaMatchesAByteComparisonOfTheTwoSnapshots) {
  constexpr uint64_t kSize = 64 * kMiB;
  auto volume = pool_->CreateVolume({.name = "v", .capacity_bytes = kSize});
  ASSERT_TRUE(volume.ok()) << volume.status();
  const std::string image = pool_->VolumePath(volume->volume.id);
  std::mt19937_64 rng(42);
  auto random_block = [&] {
    std::string data(kBlock, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    return data;
  };
  // Base content: the first 16 MiB written in 1 MiB pieces.
  for (uint64_t offset = 0; offset < 16 * kMiB; offset += kMiB) {
    std::string piece;
    for (uint64_t i = 0; i < kMiB / kBlock; ++i) piece += random_block();
    ASSERT_TRUE(host_.WriteAt(image, offset, piece).ok());
  }
  auto base = pool_->CreateSnapshot("base", volume->volume.id);
  ASSERT_TRUE(base.ok()) << base.status();

  // Known whole-block writes: inside the base data, in holes, adjacent pairs.
  std::set<uint64_t> written;
  for (int i = 0; i < 200; ++i) written.insert(rng() % (kSize / kBlock));
  for (uint64_t block : std::initializer_list<uint64_t>{0, 1, 4095, 4096, kSize / kBlock - 1}) {
    written.insert(block);
  }
  for (uint64_t block : written) {
    ASSERT_TRUE(host_.WriteAt(image, block * kBlock, random_block()).ok());
  }
  auto target = pool_->CreateSnapshot("target", volume->volume.id);
  ASSERT_TRUE(target.ok()) << target.status();

  const std::string base_path = pool_->SnapshotPath(base->snapshot.id);
  const std::string target_path = pool_->SnapshotPath(target->snapshot.id);
  auto delta = ChangedRanges(ExtentsOf(base_path), ExtentsOf(target_path), kSize);

  // The truth: every 4 KiB block whose bytes differ.
  std::set<uint64_t> reported;
  uint64_t previous_end = 0;
  for (const ByteRange& range : delta) {
    EXPECT_GE(range.offset, previous_end) << "ranges must ascend without overlap";
    EXPECT_GT(range.length, 0u);
    previous_end = range.offset + range.length;
    for (uint64_t b = range.offset / kBlock; b * kBlock < range.offset + range.length; ++b) {
      reported.insert(b);
    }
  }
  uint64_t differing = 0;
  uint64_t unchanged_reported = 0;
  for (uint64_t offset = 0; offset < kSize; offset += kMiB) {
    auto a = host_.ReadAt(base_path, offset, kMiB);
    auto b = host_.ReadAt(target_path, offset, kMiB);
    ASSERT_TRUE(a.ok() && b.ok());
    for (uint64_t i = 0; i < kMiB / kBlock; ++i) {
      uint64_t block = offset / kBlock + i;
      bool differs = a->compare(i * kBlock, kBlock, *b, i * kBlock, kBlock) != 0;
      if (differs) {
        ++differing;
        EXPECT_TRUE(reported.count(block)) << "changed block " << block << " not reported";
      } else if (reported.count(block)) {
        ++unchanged_reported;
      }
    }
  }
  EXPECT_EQ(differing, written.size());
  RecordProperty("unchanged_bytes_reported", std::to_string(unchanged_reported * kBlock));
  std::printf("[ %s ] %zu blocks written, %lu differ, delta has %zu ranges and %lu unchanged "
              "bytes\n",
              GetParam().c_str(), written.size(), static_cast<unsigned long>(differing),
              delta.size(), static_cast<unsigned long>(unchanged_reported * kBlock));
  // Whole-block writes: nothing unchanged is reported.
  EXPECT_EQ(unchanged_reported, 0u);

  // Allocated ranges of the base: exactly its first 16 MiB.
  EXPECT_EQ(AllocatedRanges(ExtentsOf(base_path), kSize),
            (std::vector<ByteRange>{{0, 16 * kMiB}}));
}

INSTANTIATE_TEST_SUITE_P(Filesystems, DeltaOnFilesystem, testing::Values("xfs", "btrfs"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ditto::pool
