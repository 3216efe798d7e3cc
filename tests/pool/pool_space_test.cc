// The pool's space figures with the background refresh, against FakeHost:
// its own operations reach the figures at the next refresh round, an
// application's writes only when the image's turn comes, and thick
// reservations are never understated meanwhile.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "host/fake_host.h"
#include "pool/pool.h"
#include "pool/fake_pool_fixture.h"

namespace ditto::pool {
namespace {

using std::chrono::hours;

constexpr uint64_t kMiB = 1ull << 20;

class PoolSpaceTest : public FakePoolTest {
 protected:
  catalog::VolumeRecord Make(const std::string& name, bool thick = false,
                             const std::string& source = "") {
    CreateVolumeSpec spec{.name = name, .capacity_bytes = 8 * kMiB, .thick = thick};
    if (!source.empty()) {
      spec.source_kind = SourceKind::kVolume;
      spec.source_id = source;
    }
    auto made = pool_->CreateVolume(spec);
    EXPECT_TRUE(made.ok()) << made.status();
    return made.ok() ? made->volume : catalog::VolumeRecord{};
  }
  PoolStatus Status() {
    auto status = pool_->GetStatus();
    EXPECT_TRUE(status.ok()) << status.status();
    return status.ok() ? *status : PoolStatus{};
  }
  // Starts the background refresh with rounds far apart (the tests run the
  // rounds themselves) and waits for its first pass over every image.
  void StartRefresh() {
    // The cache is loaded and measured here, before the thread starts: its
    // first pass then finds nothing to do whenever it gets to run.
    ASSERT_TRUE(pool_->RefreshSpace(0).ok());
    ASSERT_TRUE(pool_->StartSpaceRefresh(hours(1), hours(1)).ok());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (Status().unmeasured_images > 0) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the first pass never ended";
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
};

TEST_P(PoolSpaceTest, WithoutTheRefreshEveryImageIsMeasuredOnEachCall) {
  auto source = Make("source");
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(source.id), 0, std::string(8192, 'x')).ok());
  Make("clone", false, source.id);
  EXPECT_EQ(Status().shared_bytes, 2 * 8192u);
  // An application's write unshares a block: seen at once.
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(source.id), 0, std::string(4096, 'y')).ok());
  EXPECT_EQ(Status().shared_bytes, 2 * 4096u);
  EXPECT_EQ(Status().unmeasured_images, 0u);
}

TEST_P(PoolSpaceTest, ThePoolsOwnChangesAreMeasuredAtTheNextRound) {
  auto source = Make("source");
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(source.id), 0, std::string(8192, 'x')).ok());
  ASSERT_NO_FATAL_FAILURE(StartRefresh());
  EXPECT_EQ(Status().shared_bytes, 0u);
  EXPECT_EQ(Status().volume_count, 1u);

  auto clone = Make("clone", false, source.id);
  // Counted at once; measured at the next round (the source changed too),
  // which the background thread may already have run.
  EXPECT_EQ(Status().volume_count, 2u);
  ASSERT_TRUE(pool_->RefreshSpace(1).ok());
  EXPECT_EQ(Status().unmeasured_images, 0u);
  EXPECT_EQ(Status().shared_bytes, 2 * 8192u);

  auto snapshot = pool_->CreateSnapshot("snap", source.id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_TRUE(pool_->RefreshSpace(1).ok());
  EXPECT_EQ(Status().snapshot_count, 1u);
  EXPECT_EQ(Status().shared_bytes, 3 * 8192u);

  // Deletes leave the totals at once; what they unshared, next round.
  ASSERT_TRUE(pool_->DeleteSnapshot(snapshot->snapshot.id).ok());
  ASSERT_TRUE(pool_->DeleteVolume(clone.id).ok());
  ASSERT_TRUE(pool_->RefreshSpace(1).ok());
  EXPECT_EQ(Status().volume_count, 1u);
  EXPECT_EQ(Status().snapshot_count, 0u);
  EXPECT_EQ(Status().shared_bytes, 0u);
}

TEST_P(PoolSpaceTest, ApplicationWritesShowWhenTheImagesTurnComes) {
  auto source = Make("source");
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(source.id), 0, std::string(8192, 'x')).ok());
  Make("clone", false, source.id);
  ASSERT_NO_FATAL_FAILURE(StartRefresh());
  EXPECT_EQ(Status().shared_bytes, 2 * 8192u);
  // The pool does not see this write: the figure is stale...
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(source.id), 0, std::string(4096, 'y')).ok());
  EXPECT_EQ(Status().shared_bytes, 2 * 8192u);
  // ...until a round has gone over every image (two here: one period).
  ASSERT_TRUE(pool_->RefreshSpace(2).ok());
  EXPECT_EQ(Status().shared_bytes, 2 * 4096u);
}

// Reservations: admission (HoldSpace, AvailableBytes) measures the thick
// volumes afresh; the reported figure counts a changed thick volume's whole
// capacity until it is measured again. Never less than the truth.
TEST_P(PoolSpaceTest, ThickReservationsAreNeverUnderstated) {
  auto thick = Make("thick", /*thick=*/true);
  ASSERT_NO_FATAL_FAILURE(StartRefresh());
  EXPECT_EQ(Status().reserved_bytes, 0u);  // owns every block
  auto available = pool_->AvailableBytes();
  ASSERT_TRUE(available.ok());

  auto snapshot = pool_->CreateSnapshot("snap", thick.id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  // Before any refresh: every block is shared now, so overwriting it needs
  // new ones.
  EXPECT_EQ(Status().reserved_bytes, 8 * kMiB);
  auto after = pool_->AvailableBytes();
  ASSERT_TRUE(after.ok());
  EXPECT_LE(*after + 8 * kMiB, *available);
  ASSERT_TRUE(pool_->RefreshSpace(1).ok());
  EXPECT_EQ(Status().reserved_bytes, 8 * kMiB);
}

TEST_P(PoolSpaceTest, TheRefreshStartsOnceAndStopsWithThePool) {
  ASSERT_TRUE(pool_->StartSpaceRefresh(hours(1)).ok());
  EXPECT_EQ(pool_->StartSpaceRefresh(hours(1)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pool_->StartSpaceRefresh(std::chrono::milliseconds(0)).code(),
            absl::StatusCode::kInvalidArgument);
  pool_->StopSpaceRefresh();
  ASSERT_TRUE(pool_->StartSpaceRefresh(hours(1)).ok());
  pool_.reset();  // joins the thread
}

INSTANTIATE_TEST_SUITE_P(Backends, PoolSpaceTest,
                         testing::Values(BackendChoice::kBtrfs, BackendChoice::kXfs),
                         [](const auto& info) {
                           return info.param == BackendChoice::kBtrfs ? "btrfs" : "xfs";
                         });

}  // namespace
}  // namespace ditto::pool
