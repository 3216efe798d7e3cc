// Incremental copies across nodes (the fixture of peer_copy_test): node B
// holds the copy of a snapshot S of node A's volume; a later snapshot X of
// that volume, restored on B, moves only the blocks changed between S and X
// (and the ranges punched since), counted on the veth. When A no longer has
// S, before the copy or in the middle of it, B copies the whole image
// instead. Every copy equals its source byte for byte.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <random>

#include "fmt/format.h"
#include "reliability/peer_copy_fixture.h"

namespace ditto::reliability {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr int64_t kCapacity = 256 << 20;

// Writes `pieces` pieces of `piece_bytes` fresh random bytes (from `seed`)
// at `first`, `first + stride`, ... of the file at `path`, and fsyncs it.
Status WritePieces(const std::string& path, uint64_t first, uint64_t stride, int pieces,
                   size_t piece_bytes, uint64_t seed) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(fmt::format("open {}: {}", path, std::strerror(errno)));
  std::mt19937_64 random(seed);
  std::string data(piece_bytes, '\0');
  Status result;
  for (int i = 0; i < pieces && result.ok(); ++i) {
    for (size_t at = 0; at + 8 <= data.size(); at += 8) {
      uint64_t value = random();
      std::memcpy(&data[at], &value, 8);
    }
    if (pwrite(fd, data.data(), data.size(), static_cast<off_t>(first + i * stride)) !=
        static_cast<ssize_t>(data.size())) {
      result = absl::InternalError(fmt::format("pwrite {}: {}", path, std::strerror(errno)));
    }
  }
  if (result.ok() && fsync(fd) != 0) result = absl::InternalError("fsync " + path);
  close(fd);
  return result;
}

class PeerIncrementalTest : public PeerCopyTest {
 protected:
  // A block volume on A with `pieces` MiB of data spread over its 256 MiB.
  std::string MakeSource(int pieces) {
    pb::CreateVolumeResponse created;
    grpc::Status status = a_->csi->CreateVolume(BlockVolumeRequest("source", kCapacity), &created);
    EXPECT_TRUE(status.ok()) << Describe(status);
    std::string id = created.volume().volume_id();
    Status written = WritePieces(a_->ImagePath("volumes", id), 0, kCapacity / pieces, pieces,
                                 kMiB, /*seed=*/1);
    EXPECT_TRUE(written.ok()) << written;
    return id;
  }

  std::string Snapshot(const std::string& name, const std::string& volume_id) {
    pb::CreateSnapshotResponse snapshot;
    grpc::Status status = a_->csi->CreateSnapshot(name, volume_id, &snapshot);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return snapshot.snapshot().snapshot_id();
  }

  // `request` sent to B until done; the bytes A sent on the link meanwhile.
  pb::Volume CopyToB(pb::CreateVolumeRequest request, uint64_t* crossed,
                     const std::function<void()>& between = {}) {
    MakeBlock(request);
    RequireNode(request, "node-b");
    auto before = netns_.SentByA();
    EXPECT_TRUE(before.ok()) << before.status();
    pb::Volume copy = MustCreate(*b_, request, nullptr, between);
    auto after = netns_.SentByA();
    EXPECT_TRUE(after.ok()) << after.status();
    if (before.ok() && after.ok()) *crossed = *after - *before;
    return copy;
  }

  // Entries under B's snapshots/: the bases it keeps.
  int BasesOnB() {
    std::string listed = RunTool({"/usr/bin/ls", "-A", b_->pool_dir() + "/snapshots"}).output;
    return static_cast<int>(std::count(listed.begin(), listed.end(), '\n'));
  }
};

TEST_F(PeerIncrementalTest, OnlyTheChangedBlocksCross) {
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  std::string volume = MakeSource(64);  // 64 MiB of data
  ASSERT_FALSE(HasFailure());
  std::string s = Snapshot("s", volume);
  uint64_t full = 0;
  pb::Volume first = CopyToB(RestoreRequest("copy-of-s", s), &full);
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("snapshots", s, first, 1));
  EXPECT_EQ(BasesOnB(), 1) << "no base kept for the copy of a snapshot";

  // 4 MiB rewritten (2 in data, 2 in holes) and 2 MiB of data punched out.
  std::string image = a_->ImagePath("volumes", volume);
  Status changed = WritePieces(image, 0, 128 * kMiB, 2, kMiB, /*seed=*/2);
  ASSERT_TRUE(changed.ok()) << changed;
  changed = WritePieces(image, 2 * kMiB, 128 * kMiB, 2, kMiB, /*seed=*/4);
  ASSERT_TRUE(changed.ok()) << changed;
  ASSERT_TRUE(RunChecked({"/usr/bin/fallocate", "-p", "-o", std::to_string(96 * kMiB), "-l",
                          std::to_string(2 * kMiB), image})
                  .ok());
  std::string x = Snapshot("x", volume);
  size_t log_start = b_->Log().size();
  uint64_t incremental = 0;
  pb::Volume second = CopyToB(RestoreRequest("copy-of-x", x), &incremental);
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("snapshots", x, second, 2));
  std::string log = b_->Log().substr(log_start);
  EXPECT_NE(log.find("is incremental"), std::string::npos) << log;
  EXPECT_NE(log.find("incremental copy, the changes since " + s), std::string::npos) << log;
  std::cout << fmt::format(
      "full copy of 64 MiB of data: {} bytes crossed; incremental copy of 4 MiB changed: {} "
      "bytes crossed ({:.3f} x the change)\n",
      full, incremental, static_cast<double>(incremental) / (4 * kMiB));
  EXPECT_GE(full, 64 * kMiB);
  EXPECT_GE(incremental, 4 * kMiB);
  EXPECT_LE(incremental, 2 * 4 * kMiB + 4 * kMiB) << "more than the changes crossed";

  // A clone of the volume itself (2 MiB more written): from the newest base.
  changed = WritePieces(image, 160 * kMiB, 8 * kMiB, 2, kMiB, /*seed=*/3);
  ASSERT_TRUE(changed.ok()) << changed;
  log_start = b_->Log().size();
  uint64_t cloned = 0;
  pb::Volume third = CopyToB(CloneRequest("clone-of-volume", volume), &cloned);
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("volumes", volume, third, 3));
  log = b_->Log().substr(log_start);
  EXPECT_NE(log.find("the changes since " + x), std::string::npos) << log;
  EXPECT_LE(cloned, 2 * 2 * kMiB + 4 * kMiB) << "more than the changes crossed";
  EXPECT_EQ(BasesOnB(), 2) << "a clone of a volume keeps no base";
}

TEST_F(PeerIncrementalTest, FallsBackToAFullCopyWhenTheBaseIsGone) {
  b_->options.extra_args.insert(b_->options.extra_args.end(), {"--peer-max-rate", "4Mi"});
  ASSERT_NO_FATAL_FAILURE(StartBoth());
  std::string volume = MakeSource(16);  // 16 MiB of data
  ASSERT_FALSE(HasFailure());
  std::string image = a_->ImagePath("volumes", volume);

  // 1. The base's origin deleted on A before the copy: a full copy.
  std::string s1 = Snapshot("s1", volume);
  uint64_t crossed = 0;
  pb::Volume first = CopyToB(RestoreRequest("copy-of-s1", s1), &crossed);
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("snapshots", s1, first, 1));
  grpc::Status status = a_->csi->DeleteSnapshot(s1);
  ASSERT_TRUE(status.ok()) << Describe(status);
  Status changed = WritePieces(image, 0, 64 * kMiB, 4, kMiB, /*seed=*/2);
  ASSERT_TRUE(changed.ok()) << changed;
  std::string x1 = Snapshot("x1", volume);
  size_t log_start = b_->Log().size();
  pb::Volume second = CopyToB(RestoreRequest("copy-of-x1", x1), &crossed);
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("snapshots", x1, second, 2));
  std::string log = b_->Log().substr(log_start);
  EXPECT_NE(log.find("is a full copy"), std::string::npos) << log;
  EXPECT_NE(log.find("the base snapshot no longer exists"), std::string::npos) << log;
  EXPECT_GE(crossed, 16 * kMiB) << "the full copy moved less than the data";

  // 2. The base's origin deleted on A while the incremental copy is cut
  // off: the retry copies the whole image, nothing partial ever visible.
  changed = WritePieces(image, 4 * kMiB, 8 * kMiB, 32, kMiB, /*seed=*/3);  // 32 MiB
  ASSERT_TRUE(changed.ok()) << changed;
  std::string x2 = Snapshot("x2", volume);
  log_start = b_->Log().size();
  bool cut = false, deleted = false;
  pb::Volume third = CopyToB(RestoreRequest("copy-of-x2", x2), &crossed, [&] {
    pb::ListVolumesResponse listed;
    EXPECT_TRUE(b_->csi->ListVolumes(&listed).ok());
    EXPECT_EQ(listed.entries_size(), 2) << "a partial volume is visible";
    std::string now = b_->Log().substr(log_start);
    if (!cut && now.find(" MiB of ") != std::string::npos) {
      EXPECT_NE(now.find("incremental copy, the changes since " + x1), std::string::npos) << now;
      EXPECT_TRUE(netns_.SetLink(false).ok());
      cut = true;
    } else if (cut && !deleted && now.find("interrupted") != std::string::npos) {
      grpc::Status removed = a_->csi->DeleteSnapshot(x1);
      EXPECT_TRUE(removed.ok()) << Describe(removed);
      deleted = true;
      EXPECT_TRUE(netns_.SetLink(true).ok());
    }
  });
  EXPECT_TRUE(cut && deleted) << "the link was not cut during the incremental copy";
  ASSERT_NO_FATAL_FAILURE(ExpectCopied("snapshots", x2, third, 3));
  log = b_->Log().substr(log_start);
  EXPECT_NE(log.find("copying the whole image"), std::string::npos) << log;
  EXPECT_NE(a_->Log().find("the base snapshot no longer exists"), std::string::npos);

  // A volume's base goes with it; the other bases stay.
  EXPECT_EQ(BasesOnB(), 3);
  status = b_->csi->DeleteVolume(first.volume_id());
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(BasesOnB(), 2);
}

}  // namespace
}  // namespace ditto::reliability
