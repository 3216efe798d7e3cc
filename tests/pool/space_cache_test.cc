// SpaceCache alone, with a measuring function over a map: totals, what is
// measured first, bounded staleness, and the conservative reservations.
#include "pool/space_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ditto::pool {
namespace {

class SpaceCacheTest : public testing::Test {
 protected:
  // A path's figures: `shared` shared bytes and `exclusive` exclusive ones.
  void Set(const std::string& path, uint64_t shared, uint64_t exclusive) {
    ImageSpace space;
    space.shared_bytes = shared;
    space.exclusive_bytes = exclusive;
    space.allocated_bytes = shared + exclusive;
    images_[path] = space;
  }

  std::map<std::string, ImageSpace> images_;
  std::vector<std::string> measured_;  // paths, in the order measured
  SpaceCache cache_{[this](const std::string& path) -> StatusOr<ImageSpace> {
    measured_.push_back(path);
    auto it = images_.find(path);
    if (it == images_.end()) return absl::NotFoundError(path + " is gone");
    return it->second;
  }};
};

TEST_F(SpaceCacheTest, TotalsSumTheMeasuredImages) {
  Set("/a", 100, 5);
  Set("/b", 20, 0);
  cache_.Track("vol:a", "/a");
  cache_.Track("snap:b", "/b");
  EXPECT_EQ(cache_.totals().images, 2u);
  EXPECT_EQ(cache_.totals().unmeasured, 2u);
  EXPECT_EQ(cache_.totals().shared_bytes, 0u);
  EXPECT_EQ(cache_.Refresh(0), 2u);
  EXPECT_EQ(cache_.totals().unmeasured, 0u);
  EXPECT_EQ(cache_.totals().shared_bytes, 120u);
  cache_.Forget("snap:b");
  EXPECT_EQ(cache_.totals().images, 1u);
  EXPECT_EQ(cache_.totals().shared_bytes, 100u);
}

TEST_F(SpaceCacheTest, FiguresChangeOnlyWhenMeasuredAgain) {
  Set("/a", 100, 0);
  cache_.Track("vol:a", "/a");
  cache_.Refresh(0);
  Set("/a", 40, 60);  // an application's writes unshared blocks: unseen
  EXPECT_EQ(cache_.totals().shared_bytes, 100u);
  cache_.Refresh(1);
  EXPECT_EQ(cache_.totals().shared_bytes, 40u);
}

TEST_F(SpaceCacheTest, InvalidatedImagesAreMeasuredFirst) {
  for (const char* name : {"a", "b", "c", "d"}) {
    Set(std::string("/") + name, 1, 0);
    cache_.Track(std::string("vol:") + name, std::string("/") + name);
  }
  cache_.Refresh(0);
  measured_.clear();
  cache_.Invalidate("vol:c");
  cache_.Invalidate("vol:unknown");  // ignored
  EXPECT_EQ(cache_.totals().unmeasured, 1u);
  EXPECT_EQ(cache_.Refresh(1), 1u);
  EXPECT_EQ(measured_, std::vector<std::string>{"/c"});
  EXPECT_EQ(cache_.totals().unmeasured, 0u);
}

// A budget of images / N per round measures every image within N rounds:
// the least recently measured go first.
TEST_F(SpaceCacheTest, RoundsOfABudgetCycleThroughEveryImage) {
  for (int i = 0; i < 6; ++i) {
    std::string path = "/" + std::to_string(i);
    Set(path, 1, 0);
    cache_.Track("vol:" + std::to_string(i), path);
  }
  cache_.Refresh(0);
  measured_.clear();
  for (int round = 0; round < 3; ++round) cache_.Refresh(2);
  std::vector<std::string> sorted = measured_;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::string>{"/0", "/1", "/2", "/3", "/4", "/5"}));
}

TEST_F(SpaceCacheTest, AnImageFoundGoneIsForgotten) {
  Set("/a", 7, 0);
  cache_.Track("vol:a", "/a");
  cache_.Track("vol:b", "/b");  // no such image (deleted meanwhile)
  cache_.Refresh(0);
  EXPECT_EQ(cache_.totals().images, 1u);
  EXPECT_EQ(cache_.totals().shared_bytes, 7u);
  measured_.clear();
  cache_.Refresh(0);
  EXPECT_EQ(measured_, std::vector<std::string>{"/a"});
}

// A thick volume reserves capacity - exclusive bytes; until it is measured,
// and from a change until it is measured again, its whole capacity.
TEST_F(SpaceCacheTest, ThickReservationsAreNeverUnderstated) {
  Set("/t", 0, 64);
  cache_.Track("vol:t", "/t", /*thick=*/true, /*capacity_bytes=*/64);
  EXPECT_EQ(cache_.totals().reserved_bytes, 64u);
  cache_.Refresh(0);
  EXPECT_EQ(cache_.totals().reserved_bytes, 0u);
  // A snapshot shares all its blocks: the reservation is the capacity again
  // at once, before any measurement.
  Set("/t", 64, 0);
  cache_.Invalidate("vol:t");
  EXPECT_EQ(cache_.totals().reserved_bytes, 64u);
  cache_.Refresh(0);
  EXPECT_EQ(cache_.totals().reserved_bytes, 64u);
  // Made thin: no reservation.
  cache_.Track("vol:t", "/t", /*thick=*/false, 64);
  EXPECT_EQ(cache_.totals().reserved_bytes, 0u);
}

// A change while the image is being measured: that measurement may predate
// it, so it is not used, and the image is measured again.
TEST_F(SpaceCacheTest, AChangeDuringAMeasurementIsMeasuredAgain) {
  Set("/a", 10, 0);
  cache_.Track("vol:a", "/a");
  cache_.Refresh(0);
  bool changed = false;
  std::function<void()> invalidate;
  SpaceCache racing([&](const std::string& path) -> StatusOr<ImageSpace> {
    ImageSpace space = images_.at(path);
    if (!changed) {
      changed = true;
      Set("/a", 99, 0);
      invalidate();
    }
    return space;
  });
  invalidate = [&] { racing.Invalidate("vol:a"); };
  racing.Track("vol:a", "/a");
  racing.Refresh(1);  // measured 10, but invalidated meanwhile
  EXPECT_EQ(racing.totals().shared_bytes, 0u);
  EXPECT_EQ(racing.totals().unmeasured, 1u);
  racing.Refresh(1);
  EXPECT_EQ(racing.totals().shared_bytes, 99u);
}

}  // namespace
}  // namespace ditto::pool
