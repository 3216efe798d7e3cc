// Host::AllocateUnshared: on real XFS (FALLOC_FL_UNSHARE_RANGE) and btrfs
// (shared extents rewritten in place), as root; and on FakeHost.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "fmt/format.h"

#include "host/fake_host.h"
#include "host/linux_host.h"
#include "support/loop_filesystem.h"
#include "support/require_root.h"
#include "support/sha256.h"
#include "support/test_data.h"

namespace ditto::host {
namespace {

constexpr uint64_t kMiB = 1 << 20;

struct Space {
  uint64_t allocated = 0;
  uint64_t shared = 0;
};

Space SpaceOf(Host& host, const std::string& path) {
  Space space;
  auto extents = host.Extents(path);
  EXPECT_TRUE(extents.ok()) << extents.status();
  if (!extents.ok()) return space;
  for (const Extent& extent : *extents) {
    space.allocated += extent.length;
    if (extent.shared) space.shared += extent.length;
  }
  return space;
}

class AllocateUnsharedTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { DITTO_REQUIRE_ROOT(); }
  std::string Hash(const std::string& path) {
    auto hash = test::Sha256File(path);
    EXPECT_TRUE(hash.ok()) << hash.status();
    return hash.ok() ? *hash : "";
  }
  LinuxHost host_;
};

TEST_P(AllocateUnsharedTest, AClonedSparseImageBecomesFullyAllocatedAndExclusive) {
  auto fs = test::LoopFilesystem::Create(GetParam());
  ASSERT_TRUE(fs.ok()) << fs.status();
  const std::string source = (*fs)->mount_point() + "/source.img";
  const std::string clone = (*fs)->mount_point() + "/clone.img";
  ASSERT_TRUE(host_.CreateSparseFile(source, 32 * kMiB).ok());
  ASSERT_TRUE(host_.WriteAt(source, 0, test::PatternData(4 * kMiB, 1)).ok());
  ASSERT_TRUE(host_.WriteAt(source, 20 * kMiB, test::PatternData(kMiB, 2)).ok());
  ASSERT_TRUE(host_.Reflink(source, clone).ok());
  ASSERT_GT(SpaceOf(host_, clone).shared, 0u);
  const std::string source_hash = Hash(source);

  Status status = host_.AllocateUnshared(clone, 0, 32 * kMiB);
  ASSERT_TRUE(status.ok()) << status;
  Space after = SpaceOf(host_, clone);
  EXPECT_EQ(after.allocated, 32 * kMiB);
  EXPECT_EQ(after.shared, 0u);
  EXPECT_EQ(SpaceOf(host_, source).shared, 0u);  // nothing else holds its blocks now
  // Same data in both; writing the clone leaves the source alone.
  EXPECT_EQ(Hash(clone), source_hash);
  ASSERT_TRUE(host_.WriteAt(clone, 0, test::PatternData(kMiB, 9)).ok());
  EXPECT_EQ(Hash(source), source_hash);
  // Repeating it changes nothing.
  ASSERT_TRUE(host_.AllocateUnshared(clone, 0, 32 * kMiB).ok());
  EXPECT_EQ(SpaceOf(host_, clone).allocated, 32 * kMiB);
}

// What a volume's application does while its volume is made thick: it keeps
// writing (here straight into the image, as the loop device does). None of
// its writes may be undone by the copy of a shared range made meanwhile.
TEST_P(AllocateUnsharedTest, AWriterMeanwhileLosesNothing) {
  auto fs = test::LoopFilesystem::Create(GetParam());
  ASSERT_TRUE(fs.ok()) << fs.status();
  const std::string source = (*fs)->mount_point() + "/source.img";
  const std::string clone = (*fs)->mount_point() + "/clone.img";
  constexpr uint64_t kSize = 64 * kMiB;
  constexpr uint64_t kBlock = 4096;
  ASSERT_TRUE(host_.CreateSparseFile(source, kSize).ok());
  ASSERT_TRUE(host_.WriteAt(source, 0, test::PatternData(kSize, 3)).ok());
  ASSERT_TRUE(host_.Reflink(source, clone).ok());
  const std::string source_hash = Hash(source);

  // Block i gets "<i>:<n>" repeated, n counting its writes; the last one is kept.
  std::map<uint64_t, std::string> last;
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    int fd = ::open(clone.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::mt19937_64 random(7);
    for (uint64_t n = 0; !stop.load() || n < 200; ++n) {
      uint64_t block = random() % (kSize / kBlock);
      std::string data;
      while (data.size() < kBlock) data += fmt::format("{}:{};", block, n);
      data.resize(kBlock);
      ASSERT_EQ(::pwrite(fd, data.data(), kBlock, static_cast<off_t>(block * kBlock)),
                static_cast<ssize_t>(kBlock));
      last[block] = data;
      writes.fetch_add(1);
    }
    ::close(fd);
  });
  while (writes.load() < 100) std::this_thread::yield();
  Status status = host_.AllocateUnshared(clone, 0, kSize);
  stop.store(true);
  writer.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(SpaceOf(host_, clone).shared, 0u);
  EXPECT_EQ(Hash(source), source_hash) << "the source changed";
  const std::string original = test::PatternData(kSize, 3);
  auto image = host_.ReadAt(clone, 0, kSize);
  ASSERT_TRUE(image.ok()) << image.status();
  int lost = 0;
  for (uint64_t block = 0; block < kSize / kBlock; ++block) {
    auto it = last.find(block);
    const std::string want =
        it != last.end() ? it->second : original.substr(block * kBlock, kBlock);
    if (image->compare(block * kBlock, kBlock, want) != 0) ++lost;
  }
  EXPECT_EQ(lost, 0) << "blocks whose last write was undone, of " << last.size() << " written ("
                     << writes.load() << " writes)";
}

TEST_P(AllocateUnsharedTest, RunningOutOfSpaceIsResourceExhausted) {
  auto fs = test::LoopFilesystem::Create(GetParam());
  ASSERT_TRUE(fs.ok()) << fs.status();
  const std::string image = (*fs)->mount_point() + "/big.img";
  ASSERT_TRUE(host_.CreateSparseFile(image, 4096 * kMiB).ok());
  Status status = host_.AllocateUnshared(image, 0, 4096 * kMiB);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(host_.AllocateUnshared(image, 0, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(host_.AllocateUnshared((*fs)->mount_point() + "/missing", 0, kMiB).code(),
            absl::StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Filesystems, AllocateUnsharedTest, ::testing::Values("xfs", "btrfs"),
                         [](const auto& info) { return info.param; });

TEST(FakeAllocateUnsharedTest, CopiesSharedBlocksAndFillsHoles) {
  FakeHost host;
  ASSERT_TRUE(host.MakeDirectories("/pool", 0755).ok());
  ASSERT_TRUE(host.CreateSparseFile("/pool/a", 64 * 4096).ok());
  ASSERT_TRUE(host.WriteAt("/pool/a", 0, std::string(8 * 4096, 'x')).ok());
  ASSERT_TRUE(host.Reflink("/pool/a", "/pool/b").ok());
  EXPECT_EQ(SpaceOf(host, "/pool/b").shared, 8 * 4096u);
  ASSERT_TRUE(host.AllocateUnshared("/pool/b", 0, 64 * 4096).ok());
  EXPECT_EQ(SpaceOf(host, "/pool/b").allocated, 64 * 4096u);
  EXPECT_EQ(SpaceOf(host, "/pool/b").shared, 0u);
  EXPECT_EQ(*host.ReadAt("/pool/b", 0, 8 * 4096), std::string(8 * 4096, 'x'));

  host.set_capacity(host.used_bytes() + 4096);
  ASSERT_TRUE(host.Reflink("/pool/b", "/pool/c").ok());
  uint64_t used = host.used_bytes();
  EXPECT_EQ(host.AllocateUnshared("/pool/c", 0, 64 * 4096).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(host.used_bytes(), used);  // nothing changed
  EXPECT_EQ(SpaceOf(host, "/pool/c").shared, 64 * 4096u);
}

}  // namespace
}  // namespace ditto::host
