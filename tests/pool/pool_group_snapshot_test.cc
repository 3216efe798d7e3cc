// Pool group snapshots against FakeHost: every mounted member frozen before
// the first reflink and thawed after the last, on success and on every error;
// all members committed together or none.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "host/fake_host.h"
#include "pool/pool.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

// Freezes and reflinks in the order they happen (a freeze window's watchdog
// thaws from its own thread).
class RecordingHost : public host::FakeHost {
 public:
  Status Freeze(const std::string& mount_point) override {
    Record("freeze " + mount_point);
    return FakeHost::Freeze(mount_point);
  }
  Status Thaw(const std::string& mount_point) override {
    Record("thaw " + mount_point);
    return FakeHost::Thaw(mount_point);
  }
  Status Reflink(const std::string& source, const std::string& destination) override {
    Record("reflink");
    std::this_thread::sleep_for(reflink_delay);
    if (fail_reflink && fail_reflink()) return absl::ResourceExhaustedError("injected: no space");
    return FakeHost::Reflink(source, destination);
  }
  std::vector<std::string> Events() {
    std::lock_guard lock(events_mutex_);
    return events_;
  }
  void ClearEvents() {
    std::lock_guard lock(events_mutex_);
    events_.clear();
  }
  std::function<bool()> fail_reflink;
  std::chrono::milliseconds reflink_delay{0};

 private:
  void Record(std::string event) {
    std::lock_guard lock(events_mutex_);
    events_.push_back(std::move(event));
  }
  std::mutex events_mutex_;
  std::vector<std::string> events_;
};

class PoolGroupSnapshotTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ditto-pool-group-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    InitOptions options;
    options.backing = Backing::kNever;
    options.backend = BackendChoice::kXfs;  // FakeHost reports XFS
    auto pool = Pool::Init(host_, dir_, options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    for (const char* name : {"a", "b", "c"}) {
      auto made = pool_->CreateVolume({.name = name, .capacity_bytes = 8 * kMiB});
      ASSERT_TRUE(made.ok()) << made.status();
      ids_.push_back(made->volume.id);
      ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(made->volume.id), 0, std::string(4096, *name)).ok());
    }
    // a and b are mounted (stage records with a staging path), c is not.
    // Their staging paths sort the other way round from their (random)
    // volume IDs, so that freezing in volume-ID order and in path order
    // differ in every run.
    const bool ids_ascending = ids_[0] < ids_[1];
    for (int i = 0; i < 2; ++i) {
      std::string stage = "/stage/" + std::to_string(ids_ascending ? 1 - i : i);
      ASSERT_TRUE(host_.MakeDirectories(stage, 0755).ok());
      ASSERT_TRUE(pool_->catalog()
                      .PutStage({.volume_id = ids_[i], .staging_path = stage, .device = "/dev/loop0"})
                      .ok());
    }
    host_.ClearEvents();
  }
  void TearDown() override {
    unsetenv("DITTO_FAILPOINTS");
    pool_.reset();
    std::filesystem::remove_all(dir_);
  }
  size_t SnapshotCount() { return pool_->ListSnapshots()->size(); }

  RecordingHost host_;
  std::string dir_;
  std::unique_ptr<Pool> pool_;
  std::vector<std::string> ids_;
};

TEST_F(PoolGroupSnapshotTest, AllMembersTakenInOneFrozenWindow) {
  auto group = pool_->CreateGroupSnapshot("g", ids_);
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_TRUE(group->created);
  ASSERT_EQ(group->members.size(), 3u);
  // Both mounted members frozen before the first reflink, thawed after the last.
  const std::vector<std::string> events = host_.Events();
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0], "freeze /stage/0");  // path order
  EXPECT_EQ(events[1], "freeze /stage/1");
  EXPECT_EQ(events[2], "reflink");
  EXPECT_EQ(events[4], "reflink");
  EXPECT_EQ(events[5].rfind("thaw ", 0), 0u);
  EXPECT_EQ(events[6].rfind("thaw ", 0), 0u);
  EXPECT_FALSE(host_.frozen("/stage/0"));
  // Each member is a snapshot of its volume, with its data.
  for (const auto& member : group->members) {
    auto volume = pool_->GetVolume(member.source_volume_id);
    ASSERT_TRUE(volume.ok());
    EXPECT_EQ(*host_.ReadAt(pool_->SnapshotPath(member.id), 0, 4096),
              std::string(4096, volume->name[0]));
  }
  // Idempotent by name; other volumes under the same name are refused.
  auto again = pool_->CreateGroupSnapshot("g", {ids_[2], ids_[1], ids_[0]});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->group.id, group->group.id);
  EXPECT_EQ(pool_->CreateGroupSnapshot("g", {ids_[0]}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(pool_->GetGroupSnapshot(group->group.id)->members.size(), 3u);

  ASSERT_TRUE(pool_->DeleteGroupSnapshot(group->group.id).ok());
  EXPECT_EQ(SnapshotCount(), 0u);
  EXPECT_EQ(pool_->GetGroupSnapshot(group->group.id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(pool_->DeleteGroupSnapshot(group->group.id).ok());  // idempotent
  for (const auto& member : group->members) {
    EXPECT_FALSE(host_.Stat(pool_->SnapshotPath(member.id)).ok());
  }
}

TEST_F(PoolGroupSnapshotTest, AFailingReflinkThawsEverythingAndLeavesNothing) {
  // The first member's reflink works, the second one's fails.
  int reflinks = 0;
  host_.fail_reflink = [&] { return ++reflinks == 2; };
  EXPECT_EQ(pool_->CreateGroupSnapshot("g", ids_).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(host_.frozen("/stage/0"));
  EXPECT_FALSE(host_.frozen("/stage/1"));
  EXPECT_EQ(host_.freeze_count(), host_.thaw_count());
  EXPECT_EQ(SnapshotCount(), 0u);
  EXPECT_TRUE(host_.ListDirectory(dir_ + "/tmp")->empty());
  EXPECT_TRUE(host_.ListDirectory(dir_ + "/snapshots")->empty());
}

TEST_F(PoolGroupSnapshotTest, AFailingFreezeThawsTheOnesAlreadyFrozen) {
  // Mount points are frozen in path order: the second one fails.
  std::string first = "/stage/0";
  std::string second = "/stage/1";
  host_.InjectError("Freeze", second, absl::UnavailableError("busy"));
  EXPECT_EQ(pool_->CreateGroupSnapshot("g", ids_).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(host_.freeze_count(), 1);
  EXPECT_EQ(host_.thaw_count(), 1);
  EXPECT_FALSE(host_.frozen(first));
  EXPECT_EQ(SnapshotCount(), 0u);
}

TEST_F(PoolGroupSnapshotTest, AnErrorInsideTheFrozenWindowLeavesNothing) {
  setenv("DITTO_FAILPOINTS", "pool.group_snapshot.frozen=error", 1);
  EXPECT_EQ(pool_->CreateGroupSnapshot("g", ids_).status().code(), absl::StatusCode::kInternal);
  unsetenv("DITTO_FAILPOINTS");
  EXPECT_EQ(host_.freeze_count(), 2);
  EXPECT_EQ(host_.thaw_count(), 2);
  EXPECT_EQ(SnapshotCount(), 0u);
  EXPECT_TRUE(host_.ListDirectory(dir_ + "/tmp")->empty());
  // Then it works.
  EXPECT_TRUE(pool_->CreateGroupSnapshot("g", ids_).ok());
}

TEST_F(PoolGroupSnapshotTest, AWindowLongerThanTheLimitIsThawedAndTheGroupAbandoned) {
  pool_->set_freeze_limit(std::chrono::milliseconds(50));
  host_.reflink_delay = std::chrono::milliseconds(40);  // three members: 120 ms frozen
  auto group = pool_->CreateGroupSnapshot("g", ids_);
  EXPECT_EQ(group.status().code(), absl::StatusCode::kDeadlineExceeded) << group.status();
  EXPECT_FALSE(host_.frozen("/stage/0"));
  EXPECT_FALSE(host_.frozen("/stage/1"));
  EXPECT_EQ(host_.thaw_count(), 2);  // by the watchdog, once each
  EXPECT_EQ(SnapshotCount(), 0u);
  EXPECT_TRUE(host_.ListDirectory(dir_ + "/tmp")->empty());
  // Within the limit it goes through.
  pool_->set_freeze_limit(std::chrono::milliseconds(5000));
  EXPECT_TRUE(pool_->CreateGroupSnapshot("g", ids_).ok());
  EXPECT_EQ(host_.freeze_count(), host_.thaw_count());
}

TEST_F(PoolGroupSnapshotTest, BadRequests) {
  EXPECT_EQ(pool_->CreateGroupSnapshot("", ids_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->CreateGroupSnapshot("g", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->CreateGroupSnapshot("g", {ids_[0], ids_[0]}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->CreateGroupSnapshot("g", {ids_[0], "vol-0123456789abcdef0123456789abcdef"})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.freeze_count(), 0);
  EXPECT_EQ(SnapshotCount(), 0u);
}

}  // namespace
}  // namespace ditto::pool
