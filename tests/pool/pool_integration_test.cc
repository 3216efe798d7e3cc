// The pool on real filesystems, as root: a loop-mounted btrfs (the
// btrfs-subvolumes backend), XFS with reflink and ext4 (the reflink-files
// backend, ext4 its sparse-copy fallback). Content is compared by hash.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "common/failpoint.h"
#include "fmt/format.h"
#include "host/linux_host.h"
#include "pool/pool.h"
#include "support/loop_filesystem.h"
#include "support/require_root.h"
#include "support/sha256.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

class PoolOnFilesystem : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    auto fs = test::LoopFilesystem::Create(GetParam(), 1024 * kMiB);
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = std::move(*fs);
    dir_ = fs_->mount_point() + "/pool";
    InitOptions options;
    options.backing = Backing::kNever;
    options.backend = btrfs() ? BackendChoice::kBtrfs : BackendChoice::kXfs;
    auto pool = Pool::Init(host_, dir_, options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }
  void TearDown() override {
    pool_.reset();
    fs_.reset();
  }
  bool btrfs() const { return GetParam() == "btrfs"; }
  // How a clone is made on this filesystem.
  std::string CloneMethod() const {
    return btrfs() ? "subvolume-snapshot" : GetParam() == "ext4" ? "sparse-copy" : "reflink";
  }

  catalog::VolumeRecord Create(const std::string& name, uint64_t size,
                               SourceKind kind = SourceKind::kNone, const std::string& source = "") {
    CreateVolumeSpec spec;
    spec.name = name;
    spec.capacity_bytes = size;
    spec.source_kind = kind;
    spec.source_id = source;
    auto result = pool_->CreateVolume(spec);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->volume : catalog::VolumeRecord{};
  }
  std::string Hash(const std::string& id) {
    auto hash = test::Sha256File(pool_->VolumePath(id));
    EXPECT_TRUE(hash.ok()) << hash.status();
    return hash.ok() ? *hash : "";
  }
  void Write(const std::string& id, uint64_t offset, const std::string& data) {
    ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(id), offset, data).ok());
  }

  host::LinuxHost host_;
  std::unique_ptr<test::LoopFilesystem> fs_;
  std::string dir_;
  std::unique_ptr<Pool> pool_;
};

TEST_P(PoolOnFilesystem, CloneIsIdenticalThenIndependent) {
  auto source = Create("source", 64 * kMiB);
  Write(source.id, 0, RandomBytes(4 * kMiB, 1));
  Write(source.id, 40 * kMiB, RandomBytes(1 * kMiB, 2));
  std::string before = Hash(source.id);

  auto clone = Create("clone", 0, SourceKind::kVolume, source.id);
  EXPECT_EQ(clone.capacity_bytes, 64 * kMiB);
  EXPECT_EQ(Hash(clone.id), before);
  EXPECT_EQ(clone.clone_method, CloneMethod());

  // Writing the source leaves the clone unchanged, and vice versa.
  Write(source.id, 0, RandomBytes(kMiB, 3));
  EXPECT_EQ(Hash(clone.id), before);
  std::string source_now = Hash(source.id);
  Write(clone.id, 8 * kMiB, RandomBytes(kMiB, 4));
  EXPECT_EQ(Hash(source.id), source_now);

  // Clone of a clone; then deleting the source leaves both readable.
  std::string clone_now = Hash(clone.id);
  auto grandchild = Create("grandchild", 0, SourceKind::kVolume, clone.id);
  EXPECT_EQ(Hash(grandchild.id), clone_now);
  ASSERT_TRUE(pool_->DeleteVolume(source.id).ok());
  ASSERT_TRUE(pool_->DeleteVolume(source.id).ok());  // idempotent
  EXPECT_EQ(Hash(clone.id), clone_now);
  ASSERT_TRUE(pool_->DeleteVolume(clone.id).ok());
  EXPECT_EQ(Hash(grandchild.id), clone_now);
}

TEST_P(PoolOnFilesystem, SnapshotRestoreAndGrowOnClone) {
  auto source = Create("source", 32 * kMiB);
  Write(source.id, kMiB, RandomBytes(2 * kMiB, 5));
  std::string content = Hash(source.id);
  auto snapshot = pool_->CreateSnapshot("snap", source.id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_TRUE(snapshot->snapshot.ready_to_use);
  // Read-only for good: in a subvolume made read-only with the snapshot
  // (btrfs; even root cannot open it for writing), or mode 0444.
  const std::string snapshot_path = pool_->SnapshotPath(snapshot->snapshot.id);
  if (btrfs()) {
    int fd = ::open(snapshot_path.c_str(), O_WRONLY | O_CLOEXEC);
    int open_error = errno;
    if (fd >= 0) ::close(fd);
    EXPECT_EQ(fd, -1) << "the snapshot's image opened for writing";
    EXPECT_EQ(open_error, EROFS);
  } else {
    auto info = host_.Stat(snapshot_path);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->mode & 0777, 0444u);
  }

  Write(source.id, kMiB, RandomBytes(kMiB, 6));  // the snapshot must not change
  auto restored = Create("restored", 0, SourceKind::kSnapshot, snapshot->snapshot.id);
  EXPECT_EQ(Hash(restored.id), content);

  // A larger clone keeps the data and has the new size; a smaller one is refused.
  auto bigger = Create("bigger", 64 * kMiB, SourceKind::kSnapshot, snapshot->snapshot.id);
  EXPECT_EQ(bigger.capacity_bytes, 64 * kMiB);
  auto big_info = host_.Stat(pool_->VolumePath(bigger.id));
  ASSERT_TRUE(big_info.ok());
  EXPECT_EQ(big_info->size, 64 * kMiB);
  auto prefix = host_.ReadAt(pool_->VolumePath(bigger.id), kMiB, 2 * kMiB);
  auto original = host_.ReadAt(pool_->VolumePath(restored.id), kMiB, 2 * kMiB);
  ASSERT_TRUE(prefix.ok() && original.ok());
  EXPECT_EQ(*prefix, *original);

  CreateVolumeSpec smaller;
  smaller.name = "smaller";
  smaller.capacity_bytes = 16 * kMiB;
  smaller.source_kind = SourceKind::kVolume;
  smaller.source_id = source.id;
  EXPECT_EQ(pool_->CreateVolume(smaller).status().code(), absl::StatusCode::kOutOfRange);

  // Deleting the source volume keeps the snapshot.
  ASSERT_TRUE(pool_->DeleteVolume(source.id).ok());
  EXPECT_TRUE(pool_->GetSnapshot(snapshot->snapshot.id).ok());
  auto again = Create("again", 0, SourceKind::kSnapshot, snapshot->snapshot.id);
  EXPECT_EQ(Hash(again.id), content);
}

TEST_P(PoolOnFilesystem, CloneKeepsHolesAndSharesBlocks) {
  auto source = Create("source", 256 * kMiB);
  Write(source.id, 0, RandomBytes(8 * kMiB, 7));
  Write(source.id, 200 * kMiB, RandomBytes(8 * kMiB, 8));
  // Committed first: btrfs shows allocations in its free space at commits.
  ASSERT_TRUE(host_.SyncFilesystem(fs_->mount_point()).ok());
  auto before = host_.StatFilesystem(fs_->mount_point());
  ASSERT_TRUE(before.ok());
  auto clone = Create("clone", 0, SourceKind::kVolume, source.id);
  ASSERT_TRUE(host_.SyncFilesystem(fs_->mount_point()).ok());
  auto after = host_.StatFilesystem(fs_->mount_point());
  ASSERT_TRUE(after.ok());
  auto space = pool_->VolumeSpace(clone.id);
  ASSERT_TRUE(space.ok()) << space.status();
  // Holes stay holes either way: only the 16 MiB written are allocated.
  EXPECT_LE(space->allocated_bytes, 17 * kMiB);
  EXPECT_GE(space->allocated_bytes, 16 * kMiB);
  uint64_t consumed = before->free_bytes - after->free_bytes;
  if (GetParam() == "ext4") {
    EXPECT_EQ(space->shared_bytes, 0u);
    EXPECT_GE(consumed, 16 * kMiB);
  } else {
    EXPECT_EQ(space->shared_bytes, space->allocated_bytes);
    EXPECT_LT(consumed, kMiB);  // a reflink or snapshot clone adds (almost) no space
  }
  auto status = pool_->GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->volume_count, 2u);
  EXPECT_EQ(status->reflink, GetParam() != "ext4");
}

TEST_P(PoolOnFilesystem, ExpandAndThickAndIdempotentCreate) {
  auto volume = Create("volume", 16 * kMiB);
  auto repeat = pool_->CreateVolume({.name = "volume", .capacity_bytes = 16 * kMiB});
  ASSERT_TRUE(repeat.ok());
  EXPECT_FALSE(repeat->created);
  EXPECT_EQ(repeat->volume.id, volume.id);
  EXPECT_EQ(pool_->CreateVolume({.name = "volume", .capacity_bytes = 32 * kMiB}).status().code(),
            absl::StatusCode::kAlreadyExists);

  auto grown = pool_->ExpandVolume(volume.id, 48 * kMiB);
  ASSERT_TRUE(grown.ok()) << grown.status();
  EXPECT_EQ(grown->capacity_bytes, 48 * kMiB);
  EXPECT_EQ(host_.Stat(pool_->VolumePath(volume.id))->size, 48 * kMiB);

  auto thick = pool_->CreateVolume({.name = "thick", .capacity_bytes = 8 * kMiB, .thick = true});
  ASSERT_TRUE(thick.ok());
  EXPECT_GE(host_.Stat(pool_->VolumePath(thick->volume.id))->allocated_bytes, 8 * kMiB);
  auto thin = host_.Stat(pool_->VolumePath(volume.id));
  EXPECT_EQ(thin->allocated_bytes, 0u);
}

// btrfs frees a deleted subvolume's blocks in the background: the pool must
// still show the space free within seconds (GetCapacity reads it).
TEST_P(PoolOnFilesystem, SpaceFreedByADeleteShowsWithinSeconds) {
  auto start = host_.StatFilesystem(fs_->mount_point());
  ASSERT_TRUE(start.ok());
  auto volume = Create("big", 256 * kMiB);
  Write(volume.id, 0, RandomBytes(200 * kMiB, 3));
  auto snapshot = pool_->CreateSnapshot("big-snap", volume.id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_TRUE(host_.SyncFilesystem(fs_->mount_point()).ok());
  auto full = host_.StatFilesystem(fs_->mount_point());
  ASSERT_TRUE(full.ok());
  ASSERT_LT(full->available_bytes + 150 * kMiB, start->available_bytes);
  ASSERT_TRUE(pool_->DeleteSnapshot(snapshot->snapshot.id).ok());
  ASSERT_TRUE(pool_->DeleteVolume(volume.id).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  uint64_t available = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    available = host_.StatFilesystem(fs_->mount_point())->available_bytes;
    if (available + 20 * kMiB >= start->available_bytes) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(available + 20 * kMiB, start->available_bytes)
      << "only " << (available - full->available_bytes) / kMiB << " MiB of 200 freed after 5 s";
}

TEST_P(PoolOnFilesystem, OvercommitBeyondTheRatioIsRefused) {
  ASSERT_TRUE(pool_->SetOvercommitRatio(2).ok());
  // The filesystem is 1 GiB: 2 GiB may be provisioned in all.
  Create("a", 1536 * kMiB);
  auto refused = pool_->CreateVolume({.name = "b", .capacity_bytes = 1024 * kMiB});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("overcommit"), std::string::npos);
  EXPECT_FALSE(*pool_->FindVolumeByName("b"));
}

// Runs `operation` in a child process with `failpoint` set to crash, then
// reopens the pool in this process (recovery) and checks it is consistent.
class CrashRecovery : public PoolOnFilesystem {
 protected:
  void CrashIn(const std::string& failpoint, const std::function<void(Pool&)>& operation) {
    pool_.reset();
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      setenv("DITTO_FAILPOINTS", (failpoint + "=crash").c_str(), 1);
      auto pool = Pool::Open(host_, dir_);
      if (pool.ok()) operation(**pool);
      _exit(0);  // the failpoint was not reached
    }
    int wstatus = 0;
    ASSERT_EQ(waitpid(child, &wstatus, 0), child);
    EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << failpoint << " was not reached";
    auto reopened = Pool::Open(host_, dir_);
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    pool_ = std::move(*reopened);
    ExpectConsistent();
  }

  static int FailureCount() {
    return testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
  }

  // Every record has its image, every image its record, tmp/ is empty.
  void ExpectConsistent() {
    std::string data = pool_->layout().data_dir;
    EXPECT_TRUE(host_.ListDirectory(data + "/tmp")->empty());
    auto volumes = pool_->catalog().ListVolumes();
    ASSERT_TRUE(volumes.ok());
    std::set<std::string> expected;
    for (const auto& v : *volumes) {
      EXPECT_EQ(v.state, catalog::State::kReady) << v.id;
      expected.insert(pool_->backend().EntryName(v.id));
      EXPECT_EQ(host_.Stat(pool_->VolumePath(v.id))->size, static_cast<uint64_t>(v.capacity_bytes));
    }
    auto files = host_.ListDirectory(data + "/volumes");
    EXPECT_EQ(std::set<std::string>(files->begin(), files->end()), expected);
    auto snapshots = pool_->catalog().ListSnapshots();
    std::set<std::string> expected_snapshots;
    for (const auto& s : *snapshots) expected_snapshots.insert(pool_->backend().EntryName(s.id));
    auto snapshot_files = host_.ListDirectory(data + "/snapshots");
    EXPECT_EQ(std::set<std::string>(snapshot_files->begin(), snapshot_files->end()),
              expected_snapshots);
  }
};

TEST_P(CrashRecovery, EveryPoolFailpointLosesNothingAndRetriesComplete) {
  auto source = Create("source", 16 * kMiB);
  Write(source.id, 0, RandomBytes(kMiB, 9));
  std::string source_hash = Hash(source.id);
  auto original = host_.ReadAt(pool_->VolumePath(source.id), 0, 16 * kMiB);
  ASSERT_TRUE(original.ok());
  auto snapshot = pool_->CreateSnapshot("base", source.id);
  ASSERT_TRUE(snapshot.ok());
  int survived = 0, total = 0;

  struct Case {
    std::string failpoint;
    std::function<void(Pool&)> operation;
    std::function<void()> retry_and_check;
  };
  std::string snap_id = snapshot->snapshot.id;
  std::vector<Case> cases;
  for (const char* point : {"pool.create.after_image", "pool.create.after_rename"}) {
    cases.push_back({point, [](Pool& p) { (void)p.CreateVolume({.name = "empty", .capacity_bytes = 8 * kMiB}); },
                     [&] {
                       auto v = pool_->CreateVolume({.name = "empty", .capacity_bytes = 8 * kMiB});
                       ASSERT_TRUE(v.ok()) << v.status();
                       ASSERT_TRUE(pool_->DeleteVolume(v->volume.id).ok());
                     }});
  }
  for (const char* point :
       {"pool.clone.frozen", "pool.clone.after_reflink", "pool.clone.after_rename"}) {
    cases.push_back({point,
                     [&](Pool& p) {
                       (void)p.CreateVolume({.name = "clone", .source_kind = SourceKind::kVolume,
                                             .source_id = source.id});
                     },
                     [&] {
                       auto v = pool_->CreateVolume({.name = "clone", .source_kind = SourceKind::kVolume,
                                                     .source_id = source.id});
                       ASSERT_TRUE(v.ok()) << v.status();
                       EXPECT_EQ(Hash(v->volume.id), source_hash);
                       ASSERT_TRUE(pool_->DeleteVolume(v->volume.id).ok());
                     }});
  }
  for (const char* point :
       {"pool.restore.frozen", "pool.restore.after_reflink", "pool.restore.after_rename"}) {
    cases.push_back({point,
                     [&](Pool& p) {
                       (void)p.CreateVolume({.name = "restored",
                                             .source_kind = SourceKind::kSnapshot,
                                             .source_id = snap_id});
                     },
                     [&] {
                       auto v = pool_->CreateVolume({.name = "restored",
                                                     .source_kind = SourceKind::kSnapshot,
                                                     .source_id = snap_id});
                       ASSERT_TRUE(v.ok()) << v.status();
                       EXPECT_EQ(Hash(v->volume.id), source_hash);
                       ASSERT_TRUE(pool_->DeleteVolume(v->volume.id).ok());
                     }});
  }
  for (const char* point :
       {"pool.snapshot.frozen", "pool.snapshot.after_reflink", "pool.snapshot.after_rename"}) {
    cases.push_back({point, [&](Pool& p) { (void)p.CreateSnapshot("snap2", source.id); },
                     [&] {
                       auto s = pool_->CreateSnapshot("snap2", source.id);
                       ASSERT_TRUE(s.ok()) << s.status();
                       ASSERT_TRUE(pool_->DeleteSnapshot(s->snapshot.id).ok());
                     }});
  }
  uint64_t target = 16 * kMiB;
  for (const char* point : {"pool.expand.after_intent", "pool.expand.after_resize"}) {
    target += 8 * kMiB;  // each case grows further, so the expansion is never a no-op
    cases.push_back({point, [&, target](Pool& p) { (void)p.ExpandVolume(source.id, target); },
                     [&, target] {
                       auto v = pool_->ExpandVolume(source.id, target);
                       ASSERT_TRUE(v.ok()) << v.status();
                       EXPECT_EQ(v->capacity_bytes, target);
                     }});
  }
  for (const char* point : {"pool.delete_volume.after_commit"}) {
    cases.push_back({point,
                     [&](Pool& p) {
                       auto v = p.FindVolumeByName("doomed");
                       if (v.ok() && *v) (void)p.DeleteVolume((*v)->id);
                     },
                     [&] {
                       auto v = pool_->FindVolumeByName("doomed");
                       if (v.ok() && *v) {
                         ASSERT_TRUE(pool_->DeleteVolume((*v)->id).ok());
                       }
                       EXPECT_FALSE(*pool_->FindVolumeByName("doomed"));
                     }});
  }
  for (const char* point : {"pool.delete_snapshot.after_commit"}) {
    cases.push_back({point,
                     [&](Pool& p) {
                       auto s = p.FindSnapshotByName("doomed-snap");
                       if (s.ok() && *s) (void)p.DeleteSnapshot((*s)->id);
                     },
                     [&] {
                       auto s = pool_->FindSnapshotByName("doomed-snap");
                       if (s.ok() && *s) {
                         ASSERT_TRUE(pool_->DeleteSnapshot((*s)->id).ok());
                       }
                       EXPECT_FALSE(*pool_->FindSnapshotByName("doomed-snap"));
                     }});
  }
  for (auto& c : cases) {
    SCOPED_TRACE(c.failpoint);
    if (c.failpoint.find("delete_volume") != std::string::npos) Create("doomed", 4 * kMiB);
    if (c.failpoint.find("delete_snapshot") != std::string::npos) {
      ASSERT_TRUE(pool_->CreateSnapshot("doomed-snap", source.id).ok());
    }
    ++total;
    int failures_before = FailureCount();
    CrashIn(c.failpoint, c.operation);
    c.retry_and_check();
    ExpectConsistent();
    if (FailureCount() == failures_before) ++survived;
  }
  // The source volume's data survived every crash (its size may have grown).
  auto head = host_.ReadAt(pool_->VolumePath(source.id), 0, 16 * kMiB);
  ASSERT_TRUE(head.ok());
  EXPECT_TRUE(*head == *original);
  std::cout << fmt::format("{} failpoints, {} survived\n", total, survived);
  EXPECT_EQ(survived, total);
}

INSTANTIATE_TEST_SUITE_P(Filesystems, PoolOnFilesystem, testing::Values("btrfs", "xfs", "ext4"));
INSTANTIATE_TEST_SUITE_P(Filesystems, CrashRecovery, testing::Values("btrfs", "xfs", "ext4"));

}  // namespace
}  // namespace ditto::pool
