// Imports (pool_imports.cc) against FakeHost, on both backends: a copy of
// another node's snapshot keeps a base recording that origin; an import
// started from a base is a clone of it; a base goes with its volume.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "common/ids.h"
#include "host/fake_host.h"
#include "pool/pool.h"
#include "pool/fake_pool_fixture.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

class PoolImportTest : public FakePoolTest {
 protected:
  // The import of `data` at offset `at` as volume `name`, copied from
  // `source_id` (of `kind`) on another node; `base_id` to start from.
  catalog::VolumeRecord Import(const std::string& name, uint64_t size, SourceKind kind,
                               const std::string& source_id, uint64_t at,
                               const std::string& data, const std::string& base_id = "",
                               bool thick = false) {
    std::string id = NewVolumeId();
    auto image = pool_->BeginImport(id, size, base_id);
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return {};
    EXPECT_TRUE(host_.WriteAt(*image, at, data).ok());
    auto finished = pool_->FinishImport(id, {.name = name,
                                             .capacity_bytes = size,
                                             .thick = thick,
                                             .source_kind = kind,
                                             .source_id = source_id});
    EXPECT_TRUE(finished.ok()) << finished.status();
    return finished.ok() ? finished->volume : catalog::VolumeRecord{};
  }
  std::string Read(const std::string& path, uint64_t at, uint64_t length) {
    auto data = host_.ReadAt(path, at, length);
    EXPECT_TRUE(data.ok()) << data.status();
    return data.ok() ? *data : "";
  }
  std::vector<catalog::SnapshotRecord> Bases() {
    auto bases = pool_->ListCopiedSnapshots();
    EXPECT_TRUE(bases.ok()) << bases.status();
    return bases.ok() ? *bases : std::vector<catalog::SnapshotRecord>{};
  }
};

TEST_P(PoolImportTest, ACopiedSnapshotKeepsABaseThatTheNextImportStartsFrom) {
  const std::string origin = NewSnapshotId("0123abcd");
  catalog::VolumeRecord first =
      Import("first", 8 * kMiB, SourceKind::kSnapshot, origin, 0, std::string(kMiB, 'a'));
  ASSERT_FALSE(first.id.empty());
  std::vector<catalog::SnapshotRecord> bases = Bases();
  ASSERT_EQ(bases.size(), 1u);
  EXPECT_EQ(bases[0].origin_id, origin);
  EXPECT_EQ(bases[0].source_volume_id, first.id);
  EXPECT_EQ(bases[0].name, "base-of-" + first.id);
  EXPECT_EQ(Read(pool_->SnapshotPath(bases[0].id), 0, kMiB), std::string(kMiB, 'a'));

  // From the base, larger: the base's data without a write, and the new.
  const std::string next_origin = NewSnapshotId("0123abcd");
  catalog::VolumeRecord second =
      Import("second", 16 * kMiB, SourceKind::kSnapshot, next_origin, kMiB,
             std::string(kMiB, 'b'), bases[0].id);
  ASSERT_FALSE(second.id.empty());
  EXPECT_EQ(Read(pool_->VolumePath(second.id), 0, 2 * kMiB),
            std::string(kMiB, 'a') + std::string(kMiB, 'b'));
  EXPECT_EQ(host_.Stat(pool_->VolumePath(second.id))->size, 16 * kMiB);
  EXPECT_EQ(Read(pool_->VolumePath(first.id), kMiB, 4), std::string(4, '\0'));
  ASSERT_EQ(Bases().size(), 2u);
  EXPECT_EQ(Bases()[1].origin_id, next_origin);
  EXPECT_TRUE(host_.ListDirectory(dir_ + "/tmp")->empty());

  // A clone of a volume, or a thick copy: no base.
  Import("of-a-volume", 8 * kMiB, SourceKind::kVolume, NewVolumeId("0123abcd"), 0, "x");
  Import("thick", 8 * kMiB, SourceKind::kSnapshot, NewSnapshotId("0123abcd"), 0, "x", "",
         /*thick=*/true);
  EXPECT_EQ(Bases().size(), 2u);

  // A base goes with its volume, and only its own.
  ASSERT_TRUE(pool_->DeleteVolume(first.id).ok());
  EXPECT_EQ(pool_->GetSnapshot(bases[0].id).status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(Bases().size(), 1u);
  EXPECT_EQ(Bases()[0].source_volume_id, second.id);
}

TEST_P(PoolImportTest, AMissingOrLargerBaseIsRefusedAndLeavesNothing) {
  const std::string origin = NewSnapshotId("0123abcd");
  ASSERT_FALSE(
      Import("first", 8 * kMiB, SourceKind::kSnapshot, origin, 0, std::string(kMiB, 'a')).id.empty());
  std::string base = Bases().at(0).id;
  EXPECT_EQ(pool_->BeginImport(NewVolumeId(), 4 * kMiB, base).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(pool_->BeginImport(NewVolumeId(), 8 * kMiB, NewSnapshotId()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(pool_->BeginImport(NewVolumeId(), 8 * kMiB, "not-a-snapshot").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(host_.ListDirectory(dir_ + "/tmp")->empty());
}

std::string BackendName(const testing::TestParamInfo<BackendChoice>& info) {
  return info.param == BackendChoice::kBtrfs ? "btrfs" : "xfs";
}

INSTANTIATE_TEST_SUITE_P(Backends, PoolImportTest,
                         testing::Values(BackendChoice::kBtrfs, BackendChoice::kXfs), BackendName);

}  // namespace
}  // namespace ditto::pool
