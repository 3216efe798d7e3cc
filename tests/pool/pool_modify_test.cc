// Pool::SetVolumeThick against FakeHost: thin -> thick allocates the whole
// image for the volume alone, refuses without space and changes nothing.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "host/fake_host.h"
#include "pool/pool.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

class PoolModifyTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ditto-pool-modify-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    InitOptions options;
    options.backing = Backing::kNever;
    options.backend = BackendChoice::kXfs;  // FakeHost reports XFS
    auto pool = Pool::Init(host_, dir_, options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }
  void TearDown() override {
    pool_.reset();
    std::filesystem::remove_all(dir_);
  }
  ImageSpace Space(const std::string& id) {
    auto space = pool_->VolumeSpace(id);
    EXPECT_TRUE(space.ok()) << space.status();
    return space.ok() ? *space : ImageSpace{};
  }

  host::FakeHost host_;
  std::string dir_;
  std::unique_ptr<Pool> pool_;
};

TEST_F(PoolModifyTest, ThickAllocatesTheWholeImageUnsharedAndIsRecorded) {
  auto made = pool_->CreateVolume({.name = "v", .capacity_bytes = 8 * kMiB});
  ASSERT_TRUE(made.ok()) << made.status();
  const std::string id = made->volume.id;
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(id), 0, std::string(kMiB, 'a')).ok());
  auto snapshot = pool_->CreateSnapshot("s", id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(Space(id).shared_bytes, kMiB);

  auto thick = pool_->SetVolumeThick(id, true);
  ASSERT_TRUE(thick.ok()) << thick.status();
  EXPECT_TRUE(thick->thick);
  EXPECT_TRUE(pool_->GetVolume(id)->thick);
  EXPECT_EQ(Space(id).allocated_bytes, 8 * kMiB);
  EXPECT_EQ(Space(id).shared_bytes, 0u);
  EXPECT_EQ(*host_.ReadAt(pool_->VolumePath(id), 0, kMiB), std::string(kMiB, 'a'));
  // The snapshot keeps its data.
  EXPECT_EQ(*host_.ReadAt(pool_->SnapshotPath(snapshot->snapshot.id), 0, kMiB),
            std::string(kMiB, 'a'));
  ASSERT_TRUE(pool_->SetVolumeThick(id, true).ok());  // idempotent

  auto thin = pool_->SetVolumeThick(id, false);
  ASSERT_TRUE(thin.ok()) << thin.status();
  EXPECT_FALSE(pool_->GetVolume(id)->thick);
}

TEST_F(PoolModifyTest, WithoutSpaceItIsResourceExhaustedAndNothingChanges) {
  auto made = pool_->CreateVolume({.name = "big", .capacity_bytes = 64 * kMiB});
  ASSERT_TRUE(made.ok()) << made.status();
  const std::string id = made->volume.id;
  host_.set_capacity(host_.used_bytes() + 16 * kMiB);
  uint64_t used = host_.used_bytes();
  auto thick = pool_->SetVolumeThick(id, true);
  EXPECT_EQ(thick.status().code(), absl::StatusCode::kResourceExhausted) << thick.status();
  EXPECT_NE(thick.status().message().find("free"), std::string::npos) << thick.status();
  EXPECT_EQ(host_.used_bytes(), used);
  EXPECT_FALSE(pool_->GetVolume(id)->thick);
  EXPECT_EQ(Space(id).allocated_bytes, 0u);
}

TEST_F(PoolModifyTest, OnXfsAMountedVolumeIsUnsharedInTheKernelWithoutAFreeze) {
  auto made = pool_->CreateVolume({.name = "m", .capacity_bytes = 8 * kMiB});
  ASSERT_TRUE(made.ok()) << made.status();
  ASSERT_TRUE(host_.MakeDirectories("/stage/m", 0755).ok());
  ASSERT_TRUE(pool_->catalog()
                  .PutStage({.volume_id = made->volume.id, .staging_path = "/stage/m",
                             .device = "/dev/loop0"})
                  .ok());
  ASSERT_TRUE(pool_->SetVolumeThick(made->volume.id, true).ok());
  EXPECT_EQ(host_.freeze_count(), 0);
  EXPECT_EQ(Space(made->volume.id).exclusive_bytes, 8 * kMiB);
}

TEST_F(PoolModifyTest, ElsewhereAMountedVolumeIsFrozenAroundEachRewrittenPiece) {
  // 40 MiB: three pieces of at most 16 MiB, each in its own freeze window.
  auto made = pool_->CreateVolume({.name = "m", .capacity_bytes = 40 * kMiB});
  ASSERT_TRUE(made.ok()) << made.status();
  const std::string id = made->volume.id;
  ASSERT_TRUE(host_.MakeDirectories("/stage/m", 0755).ok());
  ASSERT_TRUE(pool_->catalog()
                  .PutStage({.volume_id = id, .staging_path = "/stage/m", .device = "/dev/loop0"})
                  .ok());
  host_.set_filesystem_type("ext4");  // no in-kernel unshare
  // An error in the first piece: thawed, still thin.
  host_.InjectError("AllocateUnshared", "", absl::InternalError("injected"), 1);
  EXPECT_EQ(pool_->SetVolumeThick(id, true).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(host_.freeze_count(), 1);
  EXPECT_EQ(host_.thaw_count(), 1);
  EXPECT_FALSE(host_.frozen("/stage/m"));
  EXPECT_FALSE(pool_->GetVolume(id)->thick);
  ASSERT_TRUE(pool_->SetVolumeThick(id, true).ok());
  EXPECT_EQ(host_.freeze_count(), 1 + 3);
  EXPECT_EQ(host_.thaw_count(), 1 + 3);
  EXPECT_FALSE(host_.frozen("/stage/m"));
  EXPECT_TRUE(pool_->GetVolume(id)->thick);
  EXPECT_EQ(Space(id).exclusive_bytes, 40 * kMiB);
  // A block volume there has no filesystem to freeze: made thick as it is
  // written (the copy is swapped in only where unchanged), with no freeze.
  auto block = pool_->CreateVolume({.name = "b", .capacity_bytes = 8 * kMiB});
  ASSERT_TRUE(block.ok()) << block.status();
  ASSERT_TRUE(pool_->catalog()
                  .PutStage({.volume_id = block->volume.id, .staging_path = "/stage/b",
                             .device = "/dev/loop1", .block = true})
                  .ok());
  const int freezes = host_.freeze_count();
  ASSERT_TRUE(pool_->SetVolumeThick(block->volume.id, true).ok());
  EXPECT_EQ(host_.freeze_count(), freezes);
  EXPECT_TRUE(pool_->GetVolume(block->volume.id)->thick);
  EXPECT_EQ(Space(block->volume.id).exclusive_bytes, 8 * kMiB);
  EXPECT_EQ(pool_->SetVolumeThick("vol-0123456789abcdef0123456789abcdef", true).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ditto::pool
