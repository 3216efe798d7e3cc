// Thick means reserved, on a real 512 MiB pool of each backend (btrfs
// subvolumes, XFS reflink files), as root: a 64 MiB thick volume written, then
// snapshotted (or cloned), the pool filled with other thick volumes, the
// whole volume overwritten with fsync: the overwrite succeeds, or the
// snapshot was refused RESOURCE_EXHAUSTED saying how much is missing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdint>
#include <random>

#include "fmt/format.h"
#include "host/linux_host.h"
#include "pool/pool.h"
#include "pool/pool_on_loop_filesystem.h"
#include "support/loop_filesystem.h"
#include "support/require_root.h"
#include "support/sha256.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kThickSize = 64 * kMiB;
constexpr uint64_t kFillerSize = 8 * kMiB;

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t word = rng();
    std::memcpy(out.data() + i, &word, 8);
  }
  return out;
}

// What `dd conv=notrunc,fsync` does: the whole file rewritten in 1 MiB
// writes, then fsync. "" on success, else what failed.
std::string OverwriteWithFsync(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fmt::format("open {}: {}", path, std::strerror(errno));
  std::string error;
  for (uint64_t offset = 0; offset < data.size() && error.empty(); offset += kMiB) {
    ssize_t n = ::pwrite(fd, data.data() + offset, kMiB, static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(kMiB)) {
      error = fmt::format("write at {}: {}", offset, n < 0 ? std::strerror(errno) : "short");
    }
  }
  if (error.empty() && ::fsync(fd) != 0) error = fmt::format("fsync: {}", std::strerror(errno));
  ::close(fd);
  return error;
}

class ThickReservation : public PoolOnLoopFilesystem {
 protected:
  ThickReservation() : PoolOnLoopFilesystem(512 * kMiB) {}

  StatusOr<CreateVolumeResult> Create(const std::string& name, uint64_t size, bool thick,
                                      SourceKind kind = SourceKind::kNone,
                                      const std::string& source = "") {
    CreateVolumeSpec spec;
    spec.name = name;
    spec.capacity_bytes = size;
    spec.thick = thick;
    spec.source_kind = kind;
    spec.source_id = source;
    return pool_->CreateVolume(spec);
  }
  // A thick volume whose every byte is written (with fsync).
  catalog::VolumeRecord WrittenThick(const std::string& name, unsigned seed) {
    auto made = Create(name, kThickSize, true);
    EXPECT_TRUE(made.ok()) << made.status();
    if (!made.ok()) return {};
    EXPECT_EQ(OverwriteWithFsync(pool_->VolumePath(made->volume.id), RandomBytes(kThickSize, seed)),
              "");
    return made->volume;
  }
  // Thick volumes of kFillerSize until the pool refuses one; returns how
  // many were made, and the refusal in `refusal`.
  int FillWithThickVolumes(Status* refusal) {
    for (int i = 0; i < 128; ++i) {
      auto made = Create(fmt::format("filler-{}", i), kFillerSize, true);
      if (!made.ok()) {
        *refusal = made.status();
        return i;
      }
    }
    *refusal = absl::OkStatus();
    return 64;
  }
  std::string Hash(const std::string& path) {
    auto hash = test::Sha256File(path);
    EXPECT_TRUE(hash.ok()) << hash.status();
    return hash.ok() ? *hash : "";
  }
  static void ExpectSaysWhatIsMissing(const Status& status) {
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
    EXPECT_NE(status.message().find("bytes"), std::string_view::npos) << status;
    EXPECT_NE(status.message().find("are missing"), std::string_view::npos) << status;
  }

};

TEST_P(ThickReservation, OverwriteAfterSnapshotOnAFullPoolSucceeds) {
  auto thick = WrittenThick("thick", 1);
  ASSERT_FALSE(thick.id.empty());
  auto reserved = pool_->ReservedBytes();
  ASSERT_TRUE(reserved.ok()) << reserved.status();
  EXPECT_EQ(*reserved, 0u) << "a fully written thick volume owns all its blocks";

  auto snapshot = pool_->CreateSnapshot("before", thick.id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  // Every block is now shared with the snapshot: the whole volume is reserved.
  reserved = pool_->ReservedBytes();
  ASSERT_TRUE(reserved.ok()) << reserved.status();
  EXPECT_EQ(*reserved, kThickSize);
  auto status = pool_->GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->reserved_bytes, kThickSize);
  auto available = pool_->AvailableBytes();
  ASSERT_TRUE(available.ok());
  EXPECT_EQ(*available, status->free_bytes > kThickSize ? status->free_bytes - kThickSize : 0);

  Status refusal;
  int fillers = FillWithThickVolumes(&refusal);
  EXPECT_GT(fillers, 0);
  ExpectSaysWhatIsMissing(refusal);

  // The whole thick volume overwritten: no "No space left on device".
  std::string fresh = RandomBytes(kThickSize, 2);
  EXPECT_EQ(OverwriteWithFsync(pool_->VolumePath(thick.id), fresh), "");
  EXPECT_EQ(Hash(pool_->VolumePath(thick.id)), test::Sha256(fresh));
  // Nothing else was harmed: the snapshot keeps the old data, every filler
  // is there, and the volume owns its blocks again.
  EXPECT_EQ(Hash(pool_->SnapshotPath(snapshot->snapshot.id)),
            test::Sha256(RandomBytes(kThickSize, 1)));
  auto volumes = pool_->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  EXPECT_EQ(volumes->size(), static_cast<size_t>(fillers) + 1);
  auto space = pool_->VolumeSpace(thick.id);
  ASSERT_TRUE(space.ok());
  EXPECT_EQ(space->exclusive_bytes, kThickSize);
}

TEST_P(ThickReservation, CopiesThatWouldBreakTheReservationAreRefused) {
  auto thick = WrittenThick("thick", 3);
  ASSERT_FALSE(thick.id.empty());
  Status refusal;
  ASSERT_GT(FillWithThickVolumes(&refusal), 0);
  ExpectSaysWhatIsMissing(refusal);

  // A snapshot, a thin clone or a group snapshot would share the 64 MiB
  // the volume owns; the pool has no room left to overwrite them.
  auto snapshot = pool_->CreateSnapshot("snap", thick.id);
  ExpectSaysWhatIsMissing(snapshot.status());
  auto clone = Create("clone", 0, false, SourceKind::kVolume, thick.id);
  ExpectSaysWhatIsMissing(clone.status());
  auto group = pool_->CreateGroupSnapshot("group", {thick.id});
  ExpectSaysWhatIsMissing(group.status());
  auto snapshots = pool_->ListSnapshots();
  ASSERT_TRUE(snapshots.ok());
  EXPECT_TRUE(snapshots->empty());

  // Made thin, the volume gives up its reservation: the snapshot works.
  ASSERT_TRUE(pool_->SetVolumeThick(thick.id, false).ok());
  snapshot = pool_->CreateSnapshot("snap", thick.id);
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  auto reserved = pool_->ReservedBytes();
  ASSERT_TRUE(reserved.ok());
  EXPECT_EQ(*reserved, 0u) << "a thin volume reserves nothing";
}

TEST_P(ThickReservation, ThickClonesAndRestoresOwnTheirBlocks) {
  auto source = Create("source", 32 * kMiB, false);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_EQ(OverwriteWithFsync(pool_->VolumePath(source->volume.id), RandomBytes(32 * kMiB, 4)),
            "");
  auto snapshot = pool_->CreateSnapshot("snap", source->volume.id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto clone = Create("clone", 0, true, SourceKind::kVolume, source->volume.id);
  ASSERT_TRUE(clone.ok()) << clone.status();
  auto restore = Create("restore", 0, true, SourceKind::kSnapshot, snapshot->snapshot.id);
  ASSERT_TRUE(restore.ok()) << restore.status();
  const std::string content = test::Sha256(RandomBytes(32 * kMiB, 4));
  for (const auto* made : {&*clone, &*restore}) {
    EXPECT_EQ(Hash(pool_->VolumePath(made->volume.id)), content);
    auto space = pool_->VolumeSpace(made->volume.id);
    ASSERT_TRUE(space.ok()) << space.status();
    EXPECT_EQ(space->exclusive_bytes, 32 * kMiB) << made->volume.name << " shares blocks";
    EXPECT_EQ(space->shared_bytes, 0u) << made->volume.name;
  }
  auto reserved = pool_->ReservedBytes();
  ASSERT_TRUE(reserved.ok());
  EXPECT_EQ(*reserved, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ThickReservation, testing::Values("btrfs", "xfs"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ditto::pool
