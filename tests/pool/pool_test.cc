// Pool logic against FakeHost: no root, no real filesystem for images. The
// catalog (SQLite) lives in a real temporary directory of the same path.
#include "pool/pool.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "host/fake_host.h"
#include "host/forwarding_host.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

// Every test runs on both backends unless its fixture says otherwise.
class PoolTest : public testing::TestWithParam<BackendChoice> {
 protected:
  bool btrfs() const { return GetParam() == BackendChoice::kBtrfs; }
  void SetUp() override {
    if (btrfs()) host_.set_filesystem_type("btrfs");
    char pattern[] = "/tmp/ditto-pool-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    std::filesystem::create_directories(dir_ + "/data");  // backing pools keep the catalog here
  }
  void TearDown() override {
    pool_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Init(Backing backing = Backing::kNever) {
    InitOptions options;
    options.backing = backing;
    options.backend = GetParam();
    options.size_bytes = 1024 * kMiB;
    auto pool = Pool::Init(host_, dir_, options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }
  void Reopen() {
    pool_.reset();
    auto pool = Pool::Open(host_, dir_);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }
  catalog::VolumeRecord MakeVolume(const std::string& name, uint64_t size = 8 * kMiB) {
    auto result = pool_->CreateVolume({.name = name, .capacity_bytes = size});
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->volume : catalog::VolumeRecord{};
  }
  // Records volume `id` as staged (mounted ext4) at `path`: what the pool
  // freezes around a copy.
  void StageMounted(const std::string& id, const std::string& path) {
    ASSERT_TRUE(host_.MakeDirectories(path, 0700).ok());
    ASSERT_TRUE(pool_->catalog()
                    .PutStage({.volume_id = id, .staging_path = path, .device = "/dev/loop0",
                               .block = false, .fs_type = "ext4"})
                    .ok());
  }
  std::vector<std::string> TempFiles() { return *host_.ListDirectory(dir_ + "/tmp"); }
  // Puts an image file at `image` the way the backend would have made it
  // (btrfs: in a subvolume of its own), as a crash can leave one.
  void PlantImage(const std::string& image, uint64_t size = kMiB) {
    if (btrfs()) {
      ASSERT_TRUE(host_.CreateSubvolume(image.substr(0, image.rfind('/'))).ok());
    }
    ASSERT_TRUE(host_.CreateSparseFile(image, size).ok());
  }
  std::string TempImage(const std::string& id) {
    return btrfs() ? dir_ + "/tmp/" + id + "/disk.img" : dir_ + "/tmp/" + id + ".img";
  }
  // The Host method that makes a clone on this backend, and the method name
  // the volume records.
  std::string CloneCall() const { return btrfs() ? "SnapshotSubvolume" : "Reflink"; }
  std::string CloneMethod() const { return btrfs() ? "subvolume-snapshot" : "reflink"; }

  host::FakeHost host_;
  std::string dir_;
  std::unique_ptr<Pool> pool_;
};

TEST_P(PoolTest, InitOpenAndRefuseASecondInit) {
  Init();
  EXPECT_TRUE(pool_->reflink());
  EXPECT_FALSE(pool_->layout().backing_file);
  EXPECT_EQ(Pool::Init(host_, dir_, {.backend = GetParam()}).status().code(), absl::StatusCode::kAlreadyExists);
  // One process at a time: a second opener waits, then gives up.
  auto second = Pool::Open(host_, dir_, /*lock_timeout_ms=*/0);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos);
  Reopen();
  EXPECT_EQ(Pool::Open(host_, "/elsewhere").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Pool::Open(host_, "relative/dir").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pool::Open(host_, "/a/../b").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(PoolTest, OfTwoConcurrentInitsOneMakesThePoolTheOtherFindsIt) {
  Status results[2];
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] { results[i] = Pool::Init(host_, dir_, {.backend = GetParam()}).status(); });
  }
  for (auto& thread : threads) thread.join();
  // The other finds the pool, or finds it open (FakeHost's lock never waits).
  int made = 0, found = 0;
  for (const Status& status : results) {
    if (status.ok()) ++made;
    if (absl::IsAlreadyExists(status) || absl::IsUnavailable(status)) ++found;
  }
  EXPECT_EQ(made, 1) << results[0] << " / " << results[1];
  EXPECT_EQ(found, 1) << results[0] << " / " << results[1];
  Reopen();
}

class XfsPoolTest : public PoolTest {};

TEST_P(XfsPoolTest, WithoutReflinkAutoMakesAnXfsBackingFileAndRemountsIt) {
  host_.set_reflink_supported(false);
  Init(Backing::kAuto);
  EXPECT_TRUE(pool_->layout().backing_file);
  EXPECT_EQ(pool_->layout().data_dir, dir_ + "/data");
  bool formatted = false;
  for (const auto& argv : host_.commands()) {
    if (argv[0] == "mkfs.xfs") {
      formatted = true;
      EXPECT_NE(std::find(argv.begin(), argv.end(), "reflink=1"), argv.end());
      EXPECT_EQ(argv.back(), dir_ + "/backing.img");
    }
  }
  EXPECT_TRUE(formatted);
  auto mounts = *host_.ListMounts();
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].target, dir_ + "/data");
  // After a reboot nothing is mounted: opening mounts it again.
  pool_.reset();
  ASSERT_TRUE(host_.Unmount(dir_ + "/data").ok());
  ASSERT_TRUE(host_.DetachLoop(mounts[0].source).ok());
  Reopen();
  EXPECT_EQ(host_.ListMounts()->size(), 1u);
}

TEST_P(XfsPoolTest, MkfsFailureIsReportedWithItsStderr) {
  host_.set_reflink_supported(false);
  host_.set_run_handler([](const std::vector<std::string>&) -> StatusOr<host::CommandResult> {
    return host::CommandResult{1, "", "mkfs.xfs: cannot open: No space left"};
  });
  auto pool = Pool::Init(host_, dir_, {.backing = Backing::kAuto, .backend = GetParam()});
  ASSERT_FALSE(pool.ok());
  EXPECT_NE(pool.status().message().find("No space left"), std::string::npos);
}

TEST_P(XfsPoolTest, CloneFallsBackToSparseCopyWithoutReflink) {
  host_.set_reflink_supported(false);
  Init(Backing::kNever);
  EXPECT_FALSE(pool_->reflink());
  auto source = MakeVolume("source");
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(source.id), 4096, "hello").ok());
  auto clone = pool_->CreateVolume(
      {.name = "clone", .source_kind = SourceKind::kVolume, .source_id = source.id});
  ASSERT_TRUE(clone.ok()) << clone.status();
  EXPECT_EQ(clone->volume.clone_method, "sparse-copy");
  EXPECT_EQ(*host_.ReadAt(pool_->VolumePath(clone->volume.id), 4096, 5), "hello");
  auto space = pool_->VolumeSpace(clone->volume.id);
  ASSERT_TRUE(space.ok());
  EXPECT_EQ(space->allocated_bytes, 4096u);  // the hole stayed a hole
  EXPECT_EQ(space->shared_bytes, 0u);
}

TEST_P(PoolTest, ReflinkCloneSharesBlocksAndRecordsTheSource) {
  Init();
  auto source = MakeVolume("source");
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(source.id), 0, std::string(8192, 'x')).ok());
  auto clone = pool_->CreateVolume(
      {.name = "clone", .source_kind = SourceKind::kVolume, .source_id = source.id});
  ASSERT_TRUE(clone.ok());
  EXPECT_EQ(clone->volume.clone_method, CloneMethod());
  EXPECT_EQ(clone->volume.source_kind, "volume");
  EXPECT_EQ(clone->volume.source_id, source.id);
  auto space = pool_->VolumeSpace(clone->volume.id);
  EXPECT_EQ(space->shared_bytes, 8192u);
  auto status = pool_->GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->shared_bytes, 2 * 8192u);
  EXPECT_EQ(status->volume_count, 2u);
}

TEST_P(PoolTest, CloneOfAMountedVolumeFreezesAndAlwaysThaws) {
  Init();
  auto source = MakeVolume("source");
  ASSERT_NO_FATAL_FAILURE(StageMounted(source.id, "/staging/source"));
  ASSERT_TRUE(pool_->CreateVolume({.name = "c1", .source_kind = SourceKind::kVolume,
                                   .source_id = source.id})
                  .ok());
  EXPECT_EQ(host_.freeze_count(), 1);
  EXPECT_EQ(host_.thaw_count(), 1);
  EXPECT_FALSE(host_.frozen("/staging/source"));

  host_.InjectError(CloneCall(), "", absl::InternalError("disk on fire"), 1);
  auto failed = pool_->CreateVolume(
      {.name = "c2", .source_kind = SourceKind::kVolume, .source_id = source.id});
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(host_.thaw_count(), 2);
  EXPECT_FALSE(host_.frozen("/staging/source"));
  EXPECT_FALSE(*pool_->FindVolumeByName("c2"));  // rolled back: no record, no files
  EXPECT_TRUE(TempFiles().empty());

  // A snapshot freezes too; a block volume is not frozen.
  ASSERT_TRUE(pool_->CreateSnapshot("s", source.id).ok());
  EXPECT_EQ(host_.freeze_count(), 3);
  ASSERT_TRUE(pool_->catalog().PutStage({.volume_id = source.id, .staging_path = "/staging/source",
                                         .device = "/dev/loop0", .block = true}).ok());
  ASSERT_TRUE(pool_->CreateSnapshot("s2", source.id).ok());
  EXPECT_EQ(host_.freeze_count(), 3);
}

// Consistency::kCrash: a copy of a mounted volume freezes (and flushes)
// nothing; the source's application never pauses.
TEST_P(PoolTest, CrashConsistentCopiesOfAMountedVolumeFreezeNothing) {
  Init();
  auto source = MakeVolume("source");
  ASSERT_NO_FATAL_FAILURE(StageMounted(source.id, "/staging/source"));
  auto clone = pool_->CreateVolume({.name = "c1", .source_kind = SourceKind::kVolume,
                                    .source_id = source.id,
                                    .consistency = Consistency::kCrash});
  ASSERT_TRUE(clone.ok()) << clone.status();
  EXPECT_EQ(clone->volume.clone_method, CloneMethod());
  ASSERT_TRUE(pool_->CreateSnapshot("s", source.id, Consistency::kCrash).ok());
  ASSERT_TRUE(pool_->CreateGroupSnapshot("g", {source.id}, Consistency::kCrash).ok());
  EXPECT_EQ(host_.freeze_count(), 0);
  // The default freezes.
  ASSERT_TRUE(pool_->CreateSnapshot("s2", source.id).ok());
  EXPECT_EQ(host_.freeze_count(), 1);
  EXPECT_EQ(host_.thaw_count(), 1);
}

TEST_P(PoolTest, SourceErrorsUseTheCanonicalCodes) {
  Init();
  auto source = MakeVolume("source", 16 * kMiB);
  EXPECT_EQ(pool_->CreateVolume({.name = "x", .source_kind = SourceKind::kVolume,
                                 .source_id = NewVolumeId()})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(pool_->CreateVolume({.name = "x", .source_kind = SourceKind::kVolume,
                                 .source_id = "../../etc/passwd"})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->CreateVolume({.name = "x", .capacity_bytes = 8 * kMiB,
                                 .source_kind = SourceKind::kVolume, .source_id = source.id})
                .status()
                .code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(pool_->CreateVolume({.name = "x"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->CreateVolume({.name = ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->CreateSnapshot("s", NewVolumeId()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(pool_->GetVolume(NewVolumeId()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(pool_->GetSnapshot("snap-x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(pool_->DeleteSnapshot(NewSnapshotId()).ok());
  EXPECT_TRUE(pool_->DeleteVolume(NewVolumeId()).ok());
}

TEST_P(PoolTest, IdempotentByNameAndAlreadyExistsOnAnyDifference) {
  Init();
  auto volume = MakeVolume("v", 8 * kMiB);
  CreateVolumeSpec same{.name = "v", .capacity_bytes = 8 * kMiB};
  auto repeat = pool_->CreateVolume(same);
  ASSERT_TRUE(repeat.ok());
  EXPECT_FALSE(repeat->created);
  EXPECT_EQ(repeat->volume.id, volume.id);
  for (CreateVolumeSpec other :
       {CreateVolumeSpec{.name = "v", .capacity_bytes = 16 * kMiB},
        CreateVolumeSpec{.name = "v", .capacity_bytes = 8 * kMiB, .thick = true},
        CreateVolumeSpec{.name = "v", .capacity_bytes = 8 * kMiB, .mode_hint = "block"},
        CreateVolumeSpec{.name = "v", .capacity_bytes = 8 * kMiB, .parameters = {{"a", "b"}}}}) {
    EXPECT_EQ(pool_->CreateVolume(other).status().code(), absl::StatusCode::kAlreadyExists);
  }
  auto snap = pool_->CreateSnapshot("s", volume.id);
  ASSERT_TRUE(snap.ok());
  auto snap_again = pool_->CreateSnapshot("s", volume.id);
  ASSERT_TRUE(snap_again.ok());
  EXPECT_EQ(snap_again->snapshot.id, snap->snapshot.id);
  auto other = MakeVolume("w");
  EXPECT_EQ(pool_->CreateSnapshot("s", other.id).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_P(PoolTest, DeletingAStagedVolumeIsRefused) {
  Init();
  auto volume = MakeVolume("v");
  ASSERT_TRUE(pool_->catalog().PutStage({.volume_id = volume.id, .staging_path = "/s"}).ok());
  EXPECT_EQ(pool_->DeleteVolume(volume.id).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(pool_->catalog().DeleteStage(volume.id).ok());
  EXPECT_TRUE(pool_->DeleteVolume(volume.id).ok());
  EXPECT_FALSE(host_.Stat(pool_->VolumePath(volume.id)).ok());
}

TEST_P(PoolTest, FullDiskIsResourceExhaustedAndLeavesNothing) {
  Init();
  host_.InjectError("CreateSparseFile", "/tmp/", absl::ResourceExhaustedError("no space"), 1);
  EXPECT_EQ(pool_->CreateVolume({.name = "v", .capacity_bytes = kMiB}).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(*pool_->FindVolumeByName("v"));
  EXPECT_TRUE(TempFiles().empty());
  EXPECT_TRUE(pool_->CreateVolume({.name = "v", .capacity_bytes = kMiB}).ok());
}

TEST_P(PoolTest, OvercommitRatioIsEnforcedAndValidated) {
  Init();
  host_.set_capacity(100 * kMiB);
  ASSERT_TRUE(pool_->SetOvercommitRatio(2).ok());
  MakeVolume("a", 150 * kMiB);
  auto refused = pool_->CreateVolume({.name = "b", .capacity_bytes = 100 * kMiB});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  auto volume = pool_->FindVolumeByName("a");
  EXPECT_EQ(pool_->ExpandVolume((*volume)->id, 250 * kMiB).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool_->SetOvercommitRatio(0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->SetOvercommitRatio(-1).code(), absl::StatusCode::kInvalidArgument);
}

// What a crash can leave now: a create's file in tmp/ (its row is committed
// only after the image is complete under its final name) and an expansion's
// intent (the only intermediate state the pool writes).
TEST_P(PoolTest, RecoveryFinishesExpansionsAndRemovesUnfinishedFiles) {
  Init();
  auto keep = MakeVolume("keep");
  auto expanding = MakeVolume("expanding", 8 * kMiB);
  PlantImage(TempImage(NewVolumeId()));
  expanding.state = catalog::State::kExpanding;
  expanding.target_capacity_bytes = 32 * kMiB;
  ASSERT_TRUE(pool_->catalog().UpdateVolume(expanding).ok());

  Reopen();
  EXPECT_TRUE(TempFiles().empty());
  auto grown = pool_->GetVolume(expanding.id);
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(grown->state, catalog::State::kReady);
  EXPECT_EQ(grown->capacity_bytes, 32 * kMiB);
  EXPECT_EQ(host_.Stat(pool_->VolumePath(expanding.id))->size, 32 * kMiB);
  auto kept = pool_->GetVolume(keep.id);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->state, catalog::State::kReady);
  auto volumes = pool_->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  EXPECT_EQ(volumes->size(), 2u);
}

TEST_P(PoolTest, InjectedErrorsAtFailpointsRollBack) {
  Init();
  auto source = MakeVolume("source");
  setenv("DITTO_FAILPOINTS", "pool.clone.after_reflink=error,pool.expand.after_intent=error", 1);
  auto clone = pool_->CreateVolume(
      {.name = "clone", .source_kind = SourceKind::kVolume, .source_id = source.id});
  EXPECT_EQ(clone.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(pool_->ExpandVolume(source.id, 16 * kMiB).status().code(),
            absl::StatusCode::kInternal);
  unsetenv("DITTO_FAILPOINTS");
  EXPECT_FALSE(*pool_->FindVolumeByName("clone"));
  EXPECT_TRUE(TempFiles().empty());
  EXPECT_EQ(pool_->GetVolume(source.id)->capacity_bytes, 8 * kMiB);
  EXPECT_EQ(pool_->GetVolume(source.id)->state, catalog::State::kReady);
}

// A crash after a create's rename or a delete's commit leaves an image with
// no row; opening the pool removes it and nothing else.
TEST_P(PoolTest, RecoveryRemovesImagesWithoutARecord) {
  Init();
  auto keep = MakeVolume("keep");
  auto snapshot = pool_->CreateSnapshot("keep-snap", keep.id);
  ASSERT_TRUE(snapshot.ok());
  std::string orphan_volume = pool_->VolumePath(NewVolumeId());
  std::string orphan_snapshot = pool_->SnapshotPath(NewSnapshotId());
  std::string stranger = dir_ + "/volumes/notes.txt";
  PlantImage(orphan_volume);
  PlantImage(orphan_snapshot);
  ASSERT_TRUE(host_.CreateSparseFile(stranger, 10).ok());
  Reopen();
  EXPECT_FALSE(host_.Stat(orphan_volume).ok());
  EXPECT_FALSE(host_.Stat(orphan_snapshot).ok());
  EXPECT_TRUE(host_.Stat(stranger).ok()) << "a file that is no image is left alone";
  EXPECT_TRUE(host_.Stat(pool_->VolumePath(keep.id)).ok());
  EXPECT_TRUE(host_.Stat(pool_->SnapshotPath(snapshot->snapshot.id)).ok());
}

// Without its catalog a pool cannot tell its images from orphans: it refuses
// to open and removes nothing.
TEST_P(PoolTest, ALostCatalogRefusesToOpenAndRemovesNothing) {
  Init();
  auto keep = MakeVolume("keep");
  std::string image = pool_->VolumePath(keep.id);
  pool_.reset();
  for (const char* file : {"/catalog.db", "/catalog.db-wal", "/catalog.db-shm"}) {
    std::filesystem::remove(dir_ + file);
  }
  auto reopened = Pool::Open(host_, dir_);
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(reopened.status().message().find("restore it from a backup"), std::string::npos)
      << reopened.status();
  EXPECT_TRUE(host_.Stat(image).ok());
}

TEST_P(PoolTest, ACrashedDeleteLeavesNoRecordAndItsImageGoesOnRetryOrReopen) {
  Init();
  auto first = MakeVolume("first");
  auto second = MakeVolume("second");
  setenv("DITTO_FAILPOINTS", "pool.delete_volume.after_commit=error", 1);
  EXPECT_FALSE(pool_->DeleteVolume(first.id).ok());
  EXPECT_FALSE(pool_->DeleteVolume(second.id).ok());
  unsetenv("DITTO_FAILPOINTS");
  // Deleted as far as anyone can see.
  EXPECT_EQ(pool_->GetVolume(first.id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(host_.Stat(pool_->VolumePath(first.id)).ok());
  // A retry finishes the job; so does reopening the pool.
  EXPECT_TRUE(pool_->DeleteVolume(first.id).ok());
  EXPECT_FALSE(host_.Stat(pool_->VolumePath(first.id)).ok());
  Reopen();
  EXPECT_FALSE(host_.Stat(pool_->VolumePath(second.id)).ok());
}

TEST_P(PoolTest, AFailureAfterTheRenameRollsTheImageBack) {
  Init();
  auto source = MakeVolume("source");
  auto snapshot = pool_->CreateSnapshot("snap", source.id);
  ASSERT_TRUE(snapshot.ok());
  setenv("DITTO_FAILPOINTS",
         "pool.create.after_rename=error,pool.clone.after_rename=error,"
         "pool.restore.after_rename=error,pool.snapshot.after_rename=error",
         1);
  EXPECT_FALSE(pool_->CreateVolume({.name = "empty", .capacity_bytes = kMiB}).ok());
  EXPECT_FALSE(pool_->CreateVolume({.name = "clone", .source_kind = SourceKind::kVolume,
                                    .source_id = source.id})
                   .ok());
  EXPECT_FALSE(pool_->CreateVolume({.name = "restored", .source_kind = SourceKind::kSnapshot,
                                    .source_id = snapshot->snapshot.id})
                   .ok());
  EXPECT_FALSE(pool_->CreateSnapshot("snap2", source.id).ok());
  unsetenv("DITTO_FAILPOINTS");
  EXPECT_EQ(host_.ListDirectory(dir_ + "/volumes")->size(), 1u);
  EXPECT_EQ(host_.ListDirectory(dir_ + "/snapshots")->size(), 1u);
  EXPECT_EQ(pool_->ListVolumes()->size(), 1u);
  EXPECT_EQ(pool_->ListSnapshots()->size(), 1u);
}

std::string BackendName(const testing::TestParamInfo<BackendChoice>& info) {
  return info.param == BackendChoice::kBtrfs ? "btrfs" : "xfs";
}

INSTANTIATE_TEST_SUITE_P(Backends, PoolTest,
                         testing::Values(BackendChoice::kBtrfs, BackendChoice::kXfs), BackendName);
INSTANTIATE_TEST_SUITE_P(Xfs, XfsPoolTest, testing::Values(BackendChoice::kXfs), BackendName);

// A host whose clone step takes `delay_ms` (a fragmented XFS image, say).
class SlowCloneHost : public host::ForwardingHost {
 public:
  SlowCloneHost(host::Host& target, int delay_ms) : ForwardingHost(target), delay_ms_(delay_ms) {}
  Status Reflink(const std::string& source, const std::string& destination) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    return ForwardingHost::Reflink(source, destination);
  }
  Status SnapshotSubvolume(const std::string& source, const std::string& destination,
                           bool read_only) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    return ForwardingHost::SnapshotSubvolume(source, destination, read_only);
  }

 private:
  int delay_ms_;
};

TEST_P(PoolTest, AFreezeLongerThanTheLimitIsThawedAndTheCloneAbandoned) {
  SlowCloneHost slow(host_, 300);
  InitOptions options{.backing = Backing::kNever, .backend = GetParam()};
  auto made = Pool::Init(slow, dir_, options);
  ASSERT_TRUE(made.ok()) << made.status();
  pool_ = std::move(*made);
  pool_->set_freeze_limit(std::chrono::milliseconds(50));
  auto source = MakeVolume("source");
  ASSERT_TRUE(host_.MakeDirectories("/staging/source", 0700).ok());
  ASSERT_TRUE(pool_->catalog()
                  .PutStage({.volume_id = source.id, .staging_path = "/staging/source",
                             .device = "/dev/loop0", .fs_type = "ext4"})
                  .ok());
  auto clone = pool_->CreateVolume(
      {.name = "clone", .source_kind = SourceKind::kVolume, .source_id = source.id});
  EXPECT_EQ(clone.status().code(), absl::StatusCode::kDeadlineExceeded) << clone.status();
  EXPECT_NE(clone.status().message().find("thawed"), std::string::npos) << clone.status();
  EXPECT_FALSE(host_.frozen("/staging/source"));
  EXPECT_EQ(host_.thaw_count(), 1);  // by the watchdog, not twice
  EXPECT_FALSE(*pool_->FindVolumeByName("clone"));
  EXPECT_TRUE(TempFiles().empty());
  // Within the limit the clone goes through.
  pool_->set_freeze_limit(std::chrono::milliseconds(5000));
  EXPECT_TRUE(pool_->CreateVolume({.name = "clone", .source_kind = SourceKind::kVolume,
                                   .source_id = source.id})
                  .ok());
  EXPECT_FALSE(host_.frozen("/staging/source"));
}

TEST_P(PoolTest, OpeningThePoolThawsWhatACrashLeftFrozen) {
  Init();
  auto source = MakeVolume("source");
  ASSERT_TRUE(host_.MakeDirectories("/staging/source", 0700).ok());
  ASSERT_TRUE(host_.MakeDirectories("/staging/other", 0700).ok());
  ASSERT_TRUE(pool_->catalog()
                  .PutStage({.volume_id = source.id, .staging_path = "/staging/source",
                             .device = "/dev/loop0", .fs_type = "ext4"})
                  .ok());
  // A process died between FIFREEZE and FITHAW.
  ASSERT_TRUE(host_.Freeze("/staging/source").ok());
  ASSERT_TRUE(host_.Freeze("/staging/other").ok());  // not ditto's: left alone
  Reopen();
  EXPECT_FALSE(host_.frozen("/staging/source"));
  EXPECT_TRUE(host_.frozen("/staging/other"));
  ASSERT_TRUE(host_.Thaw("/staging/other").ok());
}

TEST_P(PoolTest, TheFrozenFailpointFiresInsideTheFreezeWindow) {
  Init();
  auto source = MakeVolume("source");
  ASSERT_TRUE(host_.MakeDirectories("/staging/source", 0700).ok());
  ASSERT_TRUE(pool_->catalog()
                  .PutStage({.volume_id = source.id, .staging_path = "/staging/source",
                             .device = "/dev/loop0", .fs_type = "ext4"})
                  .ok());
  setenv("DITTO_FAILPOINTS", "pool.clone.frozen=error,pool.snapshot.frozen=error", 1);
  EXPECT_FALSE(pool_->CreateVolume({.name = "clone", .source_kind = SourceKind::kVolume,
                                    .source_id = source.id})
                   .ok());
  EXPECT_FALSE(pool_->CreateSnapshot("snap", source.id).ok());
  unsetenv("DITTO_FAILPOINTS");
  EXPECT_EQ(host_.freeze_count(), 2);
  EXPECT_EQ(host_.thaw_count(), 2);
  EXPECT_FALSE(host_.frozen("/staging/source"));
  EXPECT_TRUE(TempFiles().empty());
}

class BtrfsPoolTest : public PoolTest {};

TEST_P(BtrfsPoolTest, EachImageLivesInASubvolumeOfItsOwnWithoutCopyOnWrite) {
  Init();
  EXPECT_EQ(pool_->backend().name(), kBtrfsSubvolumesBackend);
  auto source = MakeVolume("source");
  EXPECT_EQ(pool_->VolumePath(source.id), dir_ + "/volumes/" + source.id + "/disk.img");
  EXPECT_TRUE(*host_.IsSubvolume(dir_ + "/volumes/" + source.id));
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(source.id), 0, "data").ok());
  auto snapshot = pool_->CreateSnapshot("snap", source.id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->snapshot.clone_method, "subvolume-snapshot");
  std::string snapshot_image = pool_->SnapshotPath(snapshot->snapshot.id);
  EXPECT_FALSE(host_.WriteAt(snapshot_image, 0, "x").ok()) << "a snapshot is read-only";
  // A restore larger than the snapshot is a writable snapshot, grown.
  auto restored = pool_->CreateVolume({.name = "restored", .capacity_bytes = 16 * kMiB,
                                       .source_kind = SourceKind::kSnapshot,
                                       .source_id = snapshot->snapshot.id});
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(host_.Stat(pool_->VolumePath(restored->volume.id))->size, 16 * kMiB);
  EXPECT_EQ(*host_.ReadAt(pool_->VolumePath(restored->volume.id), 0, 4), "data");
  // No parent chain: the source and the snapshot go, the restore stays.
  ASSERT_TRUE(pool_->DeleteSnapshot(snapshot->snapshot.id).ok());
  ASSERT_TRUE(pool_->DeleteVolume(source.id).ok());
  EXPECT_FALSE(host_.Stat(dir_ + "/volumes/" + source.id).ok());
  EXPECT_FALSE(host_.Stat(dir_ + "/snapshots/" + snapshot->snapshot.id).ok());
  EXPECT_EQ(*host_.ReadAt(pool_->VolumePath(restored->volume.id), 0, 4), "data");
  auto status = pool_->GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->backend, "btrfs-subvolumes");
}

// A subvolume snapshot is whole and durable when its ioctl returns: clones,
// snapshots, restores and group snapshots are made at their final name, with
// no rename, no directory fsync (a second transaction commit) and no sealing
// after the fact (a snapshot is read-only from its first commit).
TEST_P(BtrfsPoolTest, CopiesAreMadeInPlaceWithoutARenameOrASecondCommit) {
  Init();
  auto source = MakeVolume("source");
  auto other = MakeVolume("other");
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(source.id), 0, "data").ok());
  const Status refused = absl::InternalError("not on the copy path");
  host_.InjectError("Rename", dir_, refused);
  host_.InjectError("SyncDirectory", dir_ + "/volumes", refused);
  host_.InjectError("SyncDirectory", dir_ + "/snapshots", refused);
  host_.InjectError("MakeSubvolumeReadOnly", dir_, refused);
  host_.InjectError("SetMode", dir_ + "/snapshots", refused);

  auto clone = pool_->CreateVolume(
      {.name = "clone", .source_kind = SourceKind::kVolume, .source_id = source.id});
  ASSERT_TRUE(clone.ok()) << clone.status();
  auto snapshot = pool_->CreateSnapshot("snap", source.id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_FALSE(host_.WriteAt(pool_->SnapshotPath(snapshot->snapshot.id), 0, "x").ok())
      << "a snapshot is read-only";
  auto restored = pool_->CreateVolume({.name = "restored", .capacity_bytes = 16 * kMiB,
                                       .source_kind = SourceKind::kSnapshot,
                                       .source_id = snapshot->snapshot.id});
  ASSERT_TRUE(restored.ok()) << restored.status();
  auto group = pool_->CreateGroupSnapshot("group", {source.id, other.id});
  ASSERT_TRUE(group.ok()) << group.status();
  for (const auto& member : group->members) {
    EXPECT_FALSE(host_.WriteAt(pool_->SnapshotPath(member.id), 0, "x").ok())
        << "group snapshot member " << member.id << " is read-only";
  }
  EXPECT_EQ(*host_.ReadAt(pool_->VolumePath(clone->volume.id), 0, 4), "data");
  EXPECT_EQ(*host_.ReadAt(pool_->VolumePath(restored->volume.id), 0, 4), "data");
  EXPECT_TRUE(TempFiles().empty());
  // An empty volume is still made under tmp/ and renamed: refused here.
  EXPECT_FALSE(pool_->CreateVolume({.name = "empty", .capacity_bytes = kMiB}).ok());
  EXPECT_TRUE(TempFiles().empty());
}

TEST_P(BtrfsPoolTest, ElsewhereTheDefaultIsABtrfsBackingFile) {
  host_.set_filesystem_type("ext4");
  // With `never` there is no btrfs to use: refused, saying what to do.
  auto refused = Pool::Init(host_, dir_, {.backing = Backing::kNever, .backend = GetParam()});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("--backend xfs"), std::string::npos)
      << refused.status();
  // The fake filesystem has one type for all paths: it turns btrfs once mkfs ran.
  host_.set_run_handler([this](const std::vector<std::string>& argv)
                            -> StatusOr<host::CommandResult> {
    if (argv[0] == "mkfs.btrfs") host_.set_filesystem_type("btrfs");
    return host::CommandResult{};
  });
  Init(Backing::kAuto);
  EXPECT_TRUE(pool_->layout().backing_file);
  EXPECT_EQ(pool_->layout().backing_fs, "btrfs");
  bool formatted = false;
  for (const auto& argv : host_.commands()) {
    if (argv[0] == "mkfs.btrfs") formatted = argv.back() == dir_ + "/backing.img";
  }
  EXPECT_TRUE(formatted);
  auto mounts = *host_.ListMounts();
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].fs_type, "btrfs");
  pool_.reset();
  ASSERT_TRUE(host_.Unmount(dir_ + "/data").ok());
  ASSERT_TRUE(host_.DetachLoop(mounts[0].source).ok());
  Reopen();
  EXPECT_EQ(pool_->layout().backend, "btrfs-subvolumes");
  EXPECT_EQ(host_.ListMounts()->size(), 1u);
}

TEST_P(BtrfsPoolTest, AnXfsPoolKeepsItsBackendWhateverTheDefault) {
  host_.set_filesystem_type("xfs");
  auto pool = Pool::Init(host_, dir_, {.backing = Backing::kNever, .backend = BackendChoice::kXfs});
  ASSERT_TRUE(pool.ok()) << pool.status();
  pool->reset();
  Reopen();
  EXPECT_EQ(pool_->backend().name(), kReflinkFilesBackend);
}

class DevicePoolTest : public PoolTest {
 protected:
  // Answers blkid and mkfs as for a device holding `probe` (blkid -p output).
  void FakeTools(std::string probe) {
    host_.set_run_handler([this, probe](const std::vector<std::string>& argv)
                              -> StatusOr<host::CommandResult> {
      if (argv[0] == "blkid" && argv[1] == "-p" && argv[2] == "-o") {
        if (probe.empty()) return host::CommandResult{2, "", ""};
        return host::CommandResult{0, probe, ""};
      }
      if (argv[0] == "blkid" && argv[1] == "-p") return host::CommandResult{0, "c0ffee-uuid\n", ""};
      if (argv[0] == "blkid" && argv.size() == 7 && argv[3] == "-t") {
        EXPECT_EQ(argv[1], "--cache-file");  // bypassed: a cached name may be stale
        if (argv[4] != "UUID=c0ffee-uuid") return host::CommandResult{2, "", ""};
        return host::CommandResult{0, device_ + "\n", ""};
      }
      if (argv[0].starts_with("mkfs.")) {
        host_.set_filesystem_type(argv[0].substr(5));
      }
      return host::CommandResult{};
    });
  }
  void SetUp() override {
    PoolTest::SetUp();
    host_.set_filesystem_type("ext4");
    ASSERT_TRUE(host_.MakeDirectories("/disks", 0700).ok());
    ASSERT_TRUE(host_.CreateSparseFile("/disks/disk", 1024 * kMiB).ok());
    auto attached = host_.AttachLoop("/disks/disk", false, false);  // a block device node
    ASSERT_TRUE(attached.ok());
    device_ = *attached;
  }
  std::string device_;
};

TEST_P(DevicePoolTest, AWholeDeviceIsFormattedAndFoundAgainByItsUuid) {
  FakeTools("");
  auto pool = Pool::Init(host_, dir_, {.backend = GetParam(), .device = device_});
  ASSERT_TRUE(pool.ok()) << pool.status();
  pool_ = std::move(*pool);
  EXPECT_EQ(pool_->layout().device_uuid, "c0ffee-uuid");
  EXPECT_FALSE(pool_->layout().backing_file);
  EXPECT_EQ(pool_->layout().data_dir, dir_ + "/data");
  std::string mkfs = btrfs() ? "mkfs.btrfs" : "mkfs.xfs";
  bool formatted = false;
  for (const auto& argv : host_.commands()) formatted |= argv[0] == mkfs && argv.back() == device_;
  EXPECT_TRUE(formatted);
  MakeVolume("v");
  // After a reboot: found by UUID and mounted again.
  pool_.reset();
  ASSERT_TRUE(host_.Unmount(dir_ + "/data").ok());
  Reopen();
  auto mounts = *host_.ListMounts();
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].source, device_);
  EXPECT_TRUE(*pool_->FindVolumeByName("v"));
}

TEST_P(DevicePoolTest, ADeviceInUseIsRefusedNamingWhatItHolds) {
  FakeTools("DEVNAME=/dev/loop0\nTYPE=ext4\nUSAGE=filesystem\n");
  auto refused = Pool::Init(host_, dir_, {.backend = GetParam(), .device = device_});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("a filesystem ext4"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("--force"), std::string::npos);
  for (const auto& argv : host_.commands()) EXPECT_FALSE(argv[0].starts_with("mkfs")) << argv[0];
  EXPECT_FALSE(host_.Stat(dir_ + "/pool.json").ok());
  // --force formats it anyway.
  auto forced = Pool::Init(host_, dir_, {.backend = GetParam(), .device = device_, .force = true});
  EXPECT_TRUE(forced.ok()) << forced.status();
}

TEST_P(DevicePoolTest, AMountedDeviceOrAFileIsRefused) {
  FakeTools("");
  ASSERT_TRUE(host_.MakeDirectories("/mnt/busy", 0700).ok());
  host_.AddMount({.source = device_, .target = "/mnt/busy", .fs_type = "ext4"});
  auto mounted = Pool::Init(host_, dir_, {.backend = GetParam(), .device = device_, .force = true});
  EXPECT_EQ(mounted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(mounted.status().message().find("/mnt/busy"), std::string::npos) << mounted.status();
  auto file = Pool::Init(host_, dir_, {.backend = GetParam(), .device = "/disks/disk"});
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
}

INSTANTIATE_TEST_SUITE_P(Btrfs, BtrfsPoolTest, testing::Values(BackendChoice::kBtrfs), BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, DevicePoolTest,
                         testing::Values(BackendChoice::kBtrfs, BackendChoice::kXfs), BackendName);

}  // namespace
}  // namespace ditto::pool
