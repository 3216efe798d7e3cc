// Every frozen step proven by a real writer, on both backends, as root: a
// volume of the pool holds an ext4 filesystem, mounted (and recorded as
// staged, so the pool freezes it); a thread keeps rewriting files in it in
// place, each write fsynced and then acknowledged. Meanwhile a snapshot, a
// clone, a group snapshot, a restore of the snapshot and the conversion to
// thick run. Each copy, mounted read-only from a read-only loop device (so
// that a copy that needs journal recovery cannot be mounted), holds every
// write acknowledged before its request; the restore equals its snapshot;
// after the conversion the source, mounted afresh, holds every write
// acknowledged before the writer stopped and passes e2fsck. Where the
// conversion rewrites the image piece by piece (btrfs), each piece's rewrite
// is made 50 ms slower, and the writer must not get one write through while
// it runs: a filesystem thawed before its piece is rewritten lets writes
// through, which the rewrite could undo.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "fmt/format.h"
#include "host/forwarding_host.h"
#include "host/linux_host.h"
#include "pool/pool.h"
#include "support/loop_filesystem.h"
#include "support/require_root.h"
#include "support/sha256.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr int kFiles = 32;
constexpr size_t kRecordBytes = 8192;

std::string FileName(int n) { return fmt::format("w-{:02}", n); }

// The content of write number `seq`: the number, repeated.
std::string Record(uint64_t seq) {
  std::string unit = fmt::format("{:016}\n", seq);
  std::string out;
  while (out.size() < kRecordBytes) out += unit;
  return out.substr(0, kRecordBytes);
}

// The write number a file holds; -1 when it holds no whole record.
int64_t SeqOf(const std::string& content) {
  if (content.size() != kRecordBytes) return -1;
  uint64_t seq = std::strtoull(content.substr(0, 16).c_str(), nullptr, 10);
  return content == Record(seq) ? static_cast<int64_t>(seq) : -1;
}

class Writer {
 public:
  explicit Writer(std::string dir) : dir_(std::move(dir)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Writer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // File -> the last write number fsynced into it.
  std::map<int, uint64_t> Acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  uint64_t writes() const { return writes_; }
  std::string error() {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  void Run() {
    for (uint64_t seq = 1; !stop_; ++seq) {
      const int n = static_cast<int>(seq % kFiles);
      const std::string path = dir_ + "/" + FileName(n);
      const std::string data = Record(seq);
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      bool ok = fd >= 0 && ::pwrite(fd, data.data(), data.size(), 0) ==
                               static_cast<ssize_t>(data.size()) &&
                ::fsync(fd) == 0;
      if (fd >= 0) ::close(fd);
      std::lock_guard lock(mu_);
      if (!ok) {
        error_ = fmt::format("write {} into {}: {}", seq, path, std::strerror(errno));
        return;
      }
      acked_[n] = seq;
      ++writes_;
    }
  }

  std::string dir_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> writes_{0};
  std::mutex mu_;
  std::map<int, uint64_t> acked_;
  std::string error_;
  std::thread thread_;
};

// The pool's host: each in-place rewrite of the watched image (the thick
// conversion) lasts 50 ms longer, and counts the writes the writer got
// acknowledged while it ran.
class WatchedRewrites : public host::ForwardingHost {
 public:
  using ForwardingHost::ForwardingHost;
  Status AllocateUnshared(const std::string& path, uint64_t offset, uint64_t length) override {
    Writer* writer = writer_;
    if (writer == nullptr || path != watched_) {
      return target().AllocateUnshared(path, offset, length);
    }
    // A write whose fsync was under way when the freeze began may still
    // complete: counting starts 20 ms into the window.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint64_t before = writer->writes();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Status status = target().AllocateUnshared(path, offset, length);
    if (writer->writes() != before) ++unfrozen_rewrites_;
    ++rewrites_;
    return status;
  }
  void Watch(const std::string& path, Writer* writer) {
    watched_ = path;
    writer_ = writer;
  }
  int rewrites() const { return rewrites_; }
  int unfrozen_rewrites() const { return unfrozen_rewrites_; }
  Status Freeze(const std::string& mount_point) override {
    ++freezes_;
    return target().Freeze(mount_point);
  }
  int freezes() const { return freezes_; }

 private:
  std::string watched_;
  std::atomic<Writer*> writer_{nullptr};
  std::atomic<int> rewrites_{0};
  std::atomic<int> unfrozen_rewrites_{0};
  std::atomic<int> freezes_{0};
};

class FrozenWriter : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    auto fs = test::LoopFilesystem::Create(GetParam(), 512 * kMiB);
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = std::move(*fs);
    InitOptions options;
    options.backing = Backing::kNever;
    options.backend = GetParam() == "btrfs" ? BackendChoice::kBtrfs : BackendChoice::kXfs;
    auto pool = Pool::Init(host_, fs_->mount_point() + "/pool", options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }
  void TearDown() override {
    // Mounts and loop devices first (also after a failure), then the pool.
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) (void)host_.Unmount(*it);
    for (const auto& device : loops_) (void)host_.DetachLoop(device);
    pool_.reset();
    fs_.reset();
  }

  // Attaches `image` and mounts its ext4 at a new directory; "" on failure.
  std::string MountImage(const std::string& image, bool read_only) {
    auto device = host_.AttachLoop(image, true, read_only);
    EXPECT_TRUE(device.ok()) << device.status();
    if (!device.ok()) return "";
    loops_.push_back(*device);
    std::string dir = fmt::format("{}/m{}", fs_->root(), mounts_.size() + loops_.size());
    EXPECT_TRUE(host_.MakeDirectories(dir, 0700).ok());
    Status mounted = host_.Mount(*device, dir, "ext4", {.read_only = read_only});
    EXPECT_TRUE(mounted.ok()) << image << ": " << mounted
                              << (read_only ? " (a copy that needs journal recovery was not "
                                              "taken frozen)"
                                            : "");
    if (!mounted.ok()) return "";
    mounts_.push_back(dir);
    last_device_ = *device;
    return dir;
  }
  void Release(const std::string& dir) {
    EXPECT_TRUE(host_.Unmount(dir).ok());
    mounts_.erase(std::find(mounts_.begin(), mounts_.end(), dir));
    EXPECT_TRUE(host_.DetachLoop(last_device_).ok());
    loops_.erase(std::find(loops_.begin(), loops_.end(), last_device_));
  }
  // Every file in `dir` holds at least the write `acked` names for it.
  void ExpectHolds(const std::string& dir, const std::map<int, uint64_t>& acked,
                   const std::string& what) {
    for (const auto& [n, seq] : acked) {
      auto content = host_.ReadAt(dir + "/" + FileName(n), 0, kRecordBytes);
      ASSERT_TRUE(content.ok()) << what << ": " << content.status();
      int64_t held = SeqOf(*content);
      EXPECT_GE(held, static_cast<int64_t>(seq))
          << what << ": " << FileName(n) << " lost fsynced write " << seq
          << (held < 0 ? " (torn content)" : fmt::format(" (holds write {})", held));
    }
  }
  // The copy `image` (a snapshot or a volume), mounted read-only.
  void ExpectCopyHolds(const std::string& image, const std::map<int, uint64_t>& acked,
                       const std::string& what) {
    std::string dir = MountImage(image, true);
    ASSERT_FALSE(dir.empty()) << what;
    ExpectHolds(dir, acked, what);
    Release(dir);
  }
  // Makes a 64 MiB volume and stages it as a node does: ext4 on a loop
  // device, mounted at staging_, the stage recorded (what the pool freezes).
  // Returns its ID and sets device_.
  std::string StagedSource() {
    auto made = pool_->CreateVolume({.name = "source", .capacity_bytes = 64 * kMiB});
    EXPECT_TRUE(made.ok()) << made.status();
    if (!made.ok()) return "";
    const std::string id = made->volume.id;
    auto device = host_.AttachLoop(pool_->VolumePath(id), true, false);
    EXPECT_TRUE(device.ok()) << device.status();
    if (!device.ok()) return "";
    loops_.push_back(*device);
    device_ = *device;
    auto formatted = host_.Run({"mkfs.ext4", "-q", "-F", *device});
    EXPECT_TRUE(formatted.ok() && formatted->exit_code == 0);
    staging_ = fs_->root() + "/staging";
    EXPECT_TRUE(host_.MakeDirectories(staging_, 0700).ok());
    Status mounted = host_.Mount(*device, staging_, "ext4", {});
    EXPECT_TRUE(mounted.ok()) << mounted;
    if (!mounted.ok()) return "";
    mounts_.push_back(staging_);
    Status staged = pool_->catalog().PutStage(
        {.volume_id = id, .staging_path = staging_, .device = *device, .fs_type = "ext4"});
    EXPECT_TRUE(staged.ok()) << staged;
    return staged.ok() ? id : "";
  }
  // Lets the writer make `n` more writes.
  void LetWrite(Writer& writer, uint64_t n) {
    const uint64_t until = writer.writes() + n;
    for (int i = 0; i < 2000 && writer.writes() < until && writer.error().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  host::LinuxHost linux_;
  WatchedRewrites host_{linux_};
  std::unique_ptr<test::LoopFilesystem> fs_;
  std::unique_ptr<Pool> pool_;
  std::vector<std::string> mounts_;
  std::vector<std::string> loops_;
  std::string last_device_;
  std::string staging_;
  std::string device_;
};

TEST_P(FrozenWriter, EveryCopyAndTheThickConversionHoldWhatTheWriterFsynced) {
  const std::string id = StagedSource();
  ASSERT_FALSE(id.empty());
  const std::string staging = staging_;
  const std::string* device = &device_;

  Writer writer(staging);
  LetWrite(writer, 200);
  ASSERT_EQ(writer.error(), "");

  auto before = writer.Acked();
  auto snapshot = pool_->CreateSnapshot("snap", id);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  LetWrite(writer, 50);
  auto before_clone = writer.Acked();
  auto clone = pool_->CreateVolume(
      {.name = "clone", .source_kind = SourceKind::kVolume, .source_id = id});
  ASSERT_TRUE(clone.ok()) << clone.status();
  LetWrite(writer, 50);
  auto before_group = writer.Acked();
  auto group = pool_->CreateGroupSnapshot("group", {id});
  ASSERT_TRUE(group.ok()) << group.status();
  LetWrite(writer, 50);
  auto restore = pool_->CreateVolume(
      {.name = "restore", .source_kind = SourceKind::kSnapshot,
       .source_id = snapshot->snapshot.id});
  ASSERT_TRUE(restore.ok()) << restore.status();
  LetWrite(writer, 50);
  // Every block of the source is shared with the copies now: the
  // conversion rewrites (btrfs) or unshares (XFS) all of them under writes.
  host_.Watch(pool_->VolumePath(id), &writer);
  auto thick = pool_->SetVolumeThick(id, true);
  host_.Watch("", nullptr);
  ASSERT_TRUE(thick.ok()) << thick.status();
  if (GetParam() == "btrfs") {
    // Rewritten piece by piece (XFS unshares in the kernel, under the
    // file's lock, with no freeze and no rewrite of ours).
    EXPECT_GT(host_.rewrites(), 0);
    EXPECT_EQ(host_.unfrozen_rewrites(), 0)
        << "the writer's writes went through while the image was being rewritten under them";
  }
  LetWrite(writer, 50);
  writer.Stop();
  ASSERT_EQ(writer.error(), "");
  auto after = writer.Acked();
  std::printf("frozen writer: %llu fsynced writes during a snapshot, a clone, a group snapshot, "
              "a restore and a thick conversion\n",
              static_cast<unsigned long long>(writer.writes()));

  ExpectCopyHolds(pool_->SnapshotPath(snapshot->snapshot.id), before, "the snapshot");
  ExpectCopyHolds(pool_->VolumePath(clone->volume.id), before_clone, "the clone");
  ExpectCopyHolds(pool_->SnapshotPath(group->members.at(0).id), before_group,
                  "the group snapshot's member");
  auto restored = test::Sha256File(pool_->VolumePath(restore->volume.id));
  auto snapped = test::Sha256File(pool_->SnapshotPath(snapshot->snapshot.id));
  ASSERT_TRUE(restored.ok() && snapped.ok());
  EXPECT_EQ(*restored, *snapped) << "the restore differs from its snapshot";

  // The source, read afresh from its image: every fsynced write is there.
  ASSERT_TRUE(host_.Unmount(staging).ok());
  mounts_.pop_back();
  auto checked = host_.Run({"e2fsck", "-fn", *device});
  ASSERT_TRUE(checked.ok());
  EXPECT_EQ(checked->exit_code, 0) << "the source's filesystem is damaged after the conversion:\n"
                                   << checked->stdout_text;
  ASSERT_TRUE(host_.DetachLoop(*device).ok());
  loops_.clear();
  std::string dir = MountImage(pool_->VolumePath(id), false);
  ASSERT_FALSE(dir.empty());
  ExpectHolds(dir, after, "the source after the thick conversion");
  auto space = pool_->VolumeSpace(id);
  ASSERT_TRUE(space.ok());
  EXPECT_EQ(space->shared_bytes, 0u) << "the thick volume still shares blocks";
}

// consistency "crash": nothing is frozen while the writer runs; each copy is
// what a power cut would have left. Mounted read-write, its ext4 replays its
// journal, then passes e2fsck, and holds every write fsynced before the
// request. (A snapshot is checked through a restore of it: its own image is
// read-only.)
TEST_P(FrozenWriter, CrashConsistentCopiesReplayAndHoldWhatTheWriterFsynced) {
  const std::string id = StagedSource();
  ASSERT_FALSE(id.empty());
  Writer writer(staging_);
  LetWrite(writer, 200);
  ASSERT_EQ(writer.error(), "");
  auto before_clone = writer.Acked();
  auto clone = pool_->CreateVolume({.name = "clone", .source_kind = SourceKind::kVolume,
                                    .source_id = id, .consistency = Consistency::kCrash});
  ASSERT_TRUE(clone.ok()) << clone.status();
  LetWrite(writer, 50);
  auto before_snapshot = writer.Acked();
  auto snapshot = pool_->CreateSnapshot("snap", id, Consistency::kCrash);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  LetWrite(writer, 50);
  auto before_group = writer.Acked();
  auto group = pool_->CreateGroupSnapshot("group", {id}, Consistency::kCrash);
  ASSERT_TRUE(group.ok()) << group.status();
  LetWrite(writer, 50);
  writer.Stop();
  ASSERT_EQ(writer.error(), "");
  EXPECT_EQ(host_.freezes(), 0) << "a crash-consistent copy froze the source";

  // Restores of the snapshots: what they hold is the snapshots' content.
  auto restored = pool_->CreateVolume({.name = "restored", .source_kind = SourceKind::kSnapshot,
                                       .source_id = snapshot->snapshot.id});
  ASSERT_TRUE(restored.ok()) << restored.status();
  auto member = pool_->CreateVolume({.name = "member", .source_kind = SourceKind::kSnapshot,
                                     .source_id = group->members.at(0).id});
  ASSERT_TRUE(member.ok()) << member.status();
  const std::pair<std::string, const std::map<int, uint64_t>*> copies[] = {
      {clone->volume.id, &before_clone},
      {restored->volume.id, &before_snapshot},
      {member->volume.id, &before_group}};
  for (const auto& [copy, acked] : copies) {
    SCOPED_TRACE("copy " + copy);
    std::string dir = MountImage(pool_->VolumePath(copy), false);  // replays the journal
    ASSERT_FALSE(dir.empty());
    ExpectHolds(dir, *acked, "the crash-consistent copy");
    const std::string copy_device = last_device_;
    ASSERT_TRUE(host_.Unmount(dir).ok());
    mounts_.erase(std::find(mounts_.begin(), mounts_.end(), dir));
    auto checked = host_.Run({"e2fsck", "-fn", copy_device});
    ASSERT_TRUE(checked.ok());
    EXPECT_EQ(checked->exit_code, 0) << "the copy's filesystem is damaged after its replay:\n"
                                     << checked->stdout_text;
    ASSERT_TRUE(host_.DetachLoop(copy_device).ok());
    loops_.erase(std::find(loops_.begin(), loops_.end(), copy_device));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, FrozenWriter, testing::Values("btrfs", "xfs"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ditto::pool
