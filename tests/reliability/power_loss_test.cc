// Power loss under load: while creates, clones, snapshots, deletes and
// fsynced writes into a staged volume run against a real dittod, the power
// is cut, dittod is killed, everything is unmounted and detached (as by a
// reboot), and a new dittod re-mounts the pool (the filesystem's own
// recovery) and opens it (ditto's recovery). The cut depends on the pool's
// filesystem (DITTO_POOL_BACKEND):
//  - XFS (reflink-files pools): the filesystem is shut down without flushing
//    its log (`xfs_io -x -c shutdown`, xfstests' way): what it had not
//    written to its device is lost.
//  - btrfs (btrfs-subvolumes pools): this kernel has no shutdown ioctl for
//    btrfs (FS_IOC_SHUTDOWN answers ENOTTY) and no dm-flakey, so the cut
//    takes the disk's content at one instant instead: the pool's backing
//    file lives on an XFS "host disk", and a reflink of it (atomic against
//    the loop device's writes: the clone holds the file's lock and takes
//    what the loop device had written) is what the disk holds when the
//    power goes. After the reboot it replaces the backing file, so btrfs's
//    page cache and every transaction it had not committed are lost.
// Neither drops writes the device completed without a flush (a disk's
// volatile cache), and neither reorders them.
//
// Then every request answered OK before the cut must be there with its
// content (clones and snapshots hash like their source, creates read as
// zeros, deleted volumes stay gone, fsynced files in the staged volume read
// back once the caller repeats NodeStage), nothing half-made may remain, and
// every request that was cut off succeeds when repeated. A request counts
// as answered before the cut when its answer arrived before the cut began.
//
// Prints "N power cuts, N recovered, 0 acknowledged operations lost".
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "fmt/format.h"
#include "host/linux_host.h"
#include "reliability/daemon_fixture.h"
#include "support/loop_filesystem.h"
#include "support/pool_paths.h"
#include "support/sha256.h"
#include "support/test_data.h"

namespace ditto::reliability {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int64_t kVolumeBytes = 16ll << 20;
constexpr int kCuts = 3;
// Requests per client and cut, paced so that the cut finds them in flight
// and the pool's over-commit limit (10 x 448Mi) is never reached.
constexpr int kRequestsPerClient = 20;
constexpr auto kPace = std::chrono::milliseconds(25);

// One request of the load and what answered it.
struct Op {
  enum Kind { kCreate, kClone, kSnapshot, kDelete } kind;
  std::string name;     // creates
  std::string subject;  // clone source, snapshot source, deleted volume
  bool acknowledged = false;
  Clock::time_point sent_at;
  Clock::time_point answered_at;
  std::string result_id;
};

// A file the writer wrote into the staged volume, fsynced at `synced_at`.
struct WrittenFile {
  std::string name;
  std::string content;
  Clock::time_point synced_at;
};

class PowerLossTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped()) return;
    const char* backend = ::getenv("DITTO_POOL_BACKEND");
    shutdown_cut_ = backend != nullptr && std::string(backend) == "xfs";
    if (shutdown_cut_) return;
    // The host's disk: the pool directory is a bind mount of an XFS
    // filesystem, so that its backing file can be captured by a reflink.
    auto disk = test::LoopFilesystem::Create("xfs", uint64_t{1} << 30);
    ASSERT_TRUE(disk.ok()) << disk.status();
    disk_ = std::move(disk).value();
    std::filesystem::create_directories(work_.pool_dir());
    ToolResult bound = RunTool({"mount", "--bind", disk_->mount_point(), work_.pool_dir()});
    ASSERT_EQ(bound.exit_code, 0) << "mount --bind: " << bound.output;
  }

  void TearDown() override {
    // The pool's loop device goes before the disk its backing file is on.
    if (disk_) SimulateReboot(work_.pool_dir());
    DaemonTest::TearDown();
    disk_.reset();
  }

  std::string BackingFile() const { return work_.pool_dir() + "/backing.img"; }
  std::string CrashImage() const { return work_.pool_dir() + "/at-the-cut.img"; }

  // Cuts the power while at least one request is in flight (sent and not
  // yet answered); cut_at_ is when the cut began.
  void CutPower() {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        // Every request in pending_ was sent before this instant and is
        // answered after it (both are taken under mutex_).
        if (pending_ > 0) {
          cut_at_ = Clock::now();
          break;
        }
      }
      ASSERT_LT(Clock::now(), deadline) << "no request was sent for 10 s: the load stopped "
                                           "before the cut";
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    if (shutdown_cut_) {
      // XFS: shut down without flushing the log.
      ToolResult shutdown = RunTool({"xfs_io", "-x", "-c", "shutdown", work_.DataDir()});
      ASSERT_EQ(shutdown.exit_code, 0) << "xfs_io shutdown: " << shutdown.output;
      return;
    }
    // btrfs: the disk's content at this instant.
    host::LinuxHost host;
    Status captured = host.Reflink(BackingFile(), CrashImage());
    ASSERT_TRUE(captured.ok()) << "capturing the disk at the cut: " << captured;
  }

  // What a reboot does after the cut; the disk holds what it held then.
  void RebootAfterCut() {
    if (shutdown_cut_) {
      ASSERT_NO_FATAL_FAILURE(SimulateReboot());
      return;
    }
    ASSERT_NO_FATAL_FAILURE(SimulateReboot(work_.pool_dir()));
    std::error_code error;
    std::filesystem::rename(CrashImage(), BackingFile(), error);
    ASSERT_FALSE(error) << "putting back the disk as it was at the cut: " << error.message();
  }

  // Runs one client's share of the load until `stop`: `make` returns the
  // next request (or nullopt when this client has nothing more to do).
  void Client(std::function<std::optional<Op>()> make, std::atomic<bool>& stop) {
    CsiClient client(daemon().channel(), std::chrono::seconds(20));
    for (int sent = 0; !stop && sent < kRequestsPerClient; ++sent) {
      if (sent > 0) std::this_thread::sleep_for(kPace);
      std::optional<Op> next = make();
      if (!next) return;
      Op op = *next;
      {
        std::lock_guard lock(mutex_);
        op.sent_at = Clock::now();
        ++pending_;
      }
      grpc::Status status;
      if (op.kind == Op::kCreate || op.kind == Op::kClone) {
        pb::CreateVolumeResponse created;
        status = client.CreateVolume(op.kind == Op::kCreate ? VolumeRequest(op.name, kVolumeBytes)
                                                            : CloneRequest(op.name, op.subject),
                                     &created);
        op.result_id = created.volume().volume_id();
      } else if (op.kind == Op::kSnapshot) {
        pb::CreateSnapshotResponse snap;
        status = client.CreateSnapshot(op.name, op.subject, &snap);
        op.result_id = snap.snapshot().snapshot_id();
      } else {
        status = client.DeleteVolume(op.subject);
      }
      op.acknowledged = status.ok();
      std::lock_guard lock(mutex_);
      op.answered_at = Clock::now();
      --pending_;
      ops_.push_back(op);
      if (!status.ok()) return;  // the cut reached this client
    }
  }

  std::mutex mutex_;
  std::vector<Op> ops_;
  int pending_ = 0;  // requests sent and not yet answered
  bool shutdown_cut_ = false;
  std::unique_ptr<test::LoopFilesystem> disk_;
  Clock::time_point cut_at_;
};

TEST_F(PowerLossTest, AcknowledgedOperationsSurviveAPowerCut) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  std::string source = MakeVolumeWithFiles(
      "source", kVolumeBytes,
      {{"a.bin", test::PatternData(2 << 20, 1)}, {"b.bin", test::PatternData(700 << 10, 2)}});
  ASSERT_FALSE(source.empty());
  const std::string source_hash = VolumeHash(source);
  const std::string zero_hash = test::Sha256(std::string(kVolumeBytes, '\0'));
  // The staged volume a writer writes into, across every cut.
  pb::CreateVolumeResponse live;
  ASSERT_TRUE(csi().CreateVolume(VolumeRequest("live", kVolumeBytes), &live).ok());
  const std::string live_id = live.volume().volume_id();
  const std::string live_staging = work_.StagingPath("live");
  std::map<std::string, std::string> live_files;  // acknowledged: name -> content

  int recovered = 0;
  int acknowledged_total = 0, lost_total = 0, retried_total = 0, in_flight_total = 0;
  std::set<std::string> deleted;  // acknowledged deletes, across cuts
  std::map<std::string, std::string> volume_hashes, snapshot_hashes;  // acknowledged creates
  for (int cut = 0; cut < kCuts; ++cut) {
    SCOPED_TRACE(fmt::format("power cut {}", cut + 1));
    int failures_before = FailureCount();
    if (!daemon_) {
      ASSERT_NO_FATAL_FAILURE(StartDaemon());
    }
    grpc::Status staged = csi().NodeStage(live_id, live_staging);
    ASSERT_TRUE(staged.ok()) << Describe(staged);
    // Volumes this cut's deletes remove.
    std::vector<std::string> doomed;
    for (int i = 0; i < 6; ++i) {
      pb::CreateVolumeResponse made;
      std::string name = fmt::format("cut{}-doomed-{}", cut, i);
      ASSERT_TRUE(csi().CreateVolume(VolumeRequest(name, kVolumeBytes), &made).ok());
      doomed.push_back(made.volume().volume_id());
      volume_hashes[made.volume().volume_id()] = zero_hash;
    }
    ops_.clear();

    std::atomic<bool> stop{false};
    std::atomic<int> next_create{0}, next_clone{0}, next_snapshot{0};
    std::atomic<size_t> next_delete{0};
    std::vector<std::thread> clients;
    clients.emplace_back([&] {
      Client(
          [&]() -> std::optional<Op> {
            return Op{Op::kCreate, fmt::format("cut{}-create-{}", cut, next_create++), ""};
          },
          stop);
    });
    clients.emplace_back([&] {
      Client(
          [&]() -> std::optional<Op> {
            return Op{Op::kClone, fmt::format("cut{}-clone-{}", cut, next_clone++), source};
          },
          stop);
    });
    clients.emplace_back([&] {
      Client(
          [&]() -> std::optional<Op> {
            return Op{Op::kSnapshot, fmt::format("cut{}-snap-{}", cut, next_snapshot++), source};
          },
          stop);
    });
    clients.emplace_back([&] {
      Client(
          [&]() -> std::optional<Op> {
            size_t i = next_delete++;
            if (i >= doomed.size()) return std::nullopt;
            std::this_thread::sleep_for(40ms);  // spread the deletes over the load
            return Op{Op::kDelete, "", doomed[i]};
          },
          stop);
    });
    // The writer: a file counts once write, fsync and the directory's fsync
    // have returned before the cut.
    std::vector<WrittenFile> written;
    std::thread writer([&] {
      for (int seq = 0; !stop; ++seq) {
        std::string name = fmt::format("cut{}-f{:05}", cut, seq);
        std::string content = test::PatternData(32 << 10, cut * 100000 + seq);
        if (!WriteFileSynced(live_staging + "/" + name, content).ok()) return;
        written.push_back({name, content, Clock::now()});
      }
    });

    std::this_thread::sleep_for(std::chrono::milliseconds(150 + 150 * cut));
    ASSERT_NO_FATAL_FAILURE(CutPower());
    // The power is gone: nothing more of dittod runs, and nothing more is
    // acknowledged (the clients and the writer see errors and stop).
    csi_.reset();
    daemon_.reset();
    stop = true;
    for (auto& client : clients) client.join();
    writer.join();
    // The cut found requests in flight: sent before it, not answered before it.
    int in_flight = 0;
    for (const Op& op : ops_) {
      if (op.sent_at < cut_at_ && op.answered_at >= cut_at_) ++in_flight;
    }
    EXPECT_GT(in_flight, 0) << "no request was in flight at the cut: the cut tested only "
                               "what was already answered";
    in_flight_total += in_flight;
    for (Op& op : ops_) op.acknowledged = op.acknowledged && op.answered_at < cut_at_;
    for (const WrittenFile& file : written) {
      if (file.synced_at < cut_at_) live_files[file.name] = file.content;
    }
    ASSERT_NO_FATAL_FAILURE(RebootAfterCut());

    ASSERT_NO_FATAL_FAILURE(StartDaemon());
    int acknowledged = 0, lost = 0;
    pb::ListVolumesResponse listed;
    ASSERT_TRUE(csi().ListVolumes(&listed).ok());
    std::set<std::string> listed_ids;
    for (const auto& entry : listed.entries()) listed_ids.insert(entry.volume().volume_id());
    // A delete the cut interrupted may have committed or not: its volume
    // may be there or gone (the retry below settles it).
    for (const Op& op : ops_) {
      if (op.kind == Op::kDelete && !op.acknowledged) volume_hashes.erase(op.subject);
    }
    for (const Op& op : ops_) {
      if (!op.acknowledged) continue;
      ++acknowledged;
      int failures = FailureCount();
      switch (op.kind) {
        case Op::kCreate:
        case Op::kClone:
          EXPECT_TRUE(listed_ids.count(op.result_id)) << op.name << " is gone";
          EXPECT_EQ(VolumeHash(op.result_id), op.kind == Op::kCreate ? zero_hash : source_hash)
              << op.name << " lost its content";
          volume_hashes[op.result_id] = op.kind == Op::kCreate ? zero_hash : source_hash;
          break;
        case Op::kSnapshot:
          EXPECT_EQ(SnapshotHash(op.result_id), source_hash) << op.name << " lost its content";
          snapshot_hashes[op.result_id] = source_hash;
          break;
        case Op::kDelete:
          EXPECT_FALSE(listed_ids.count(op.subject)) << "deleted volume " << op.subject
                                                     << " is back";
          EXPECT_FALSE(std::filesystem::exists(
              test::PoolImagePath(work_.DataDir(), "volumes", op.subject)))
              << "deleted volume " << op.subject << " still has its image";
          deleted.insert(op.subject);
          volume_hashes.erase(op.subject);
          break;
      }
      if (FailureCount() != failures) ++lost;
    }
    // Everything acknowledged in earlier cuts is still there too.
    for (const auto& [id, hash] : volume_hashes) {
      EXPECT_EQ(VolumeHash(id), hash) << "volume " << id << " changed";
    }
    for (const auto& [id, hash] : snapshot_hashes) {
      EXPECT_EQ(SnapshotHash(id), hash) << "snapshot " << id << " changed";
    }
    // The caller (kubelet) repeats NodeStage after the reboot; every
    // acknowledged file reads back.
    staged = csi().NodeStage(live_id, live_staging);
    ASSERT_TRUE(staged.ok()) << "NodeStage after the power cut: " << Describe(staged);
    for (const auto& [name, content] : live_files) {
      auto read = ReadWholeFile(live_staging + "/" + name);
      bool this_cut = name.rfind(fmt::format("cut{}-", cut), 0) == 0;
      if (this_cut) ++acknowledged;
      if (!read.ok() || *read != content) {
        ++lost;
        ADD_FAILURE() << "fsynced file " << name << " in the staged volume "
                      << (read.ok() ? "changed" : "is gone");
      }
    }
    // Every request the cut interrupted completes when repeated.
    for (const Op& op : ops_) {
      if (op.acknowledged) continue;
      ++retried_total;
      grpc::Status retried;
      if (op.kind == Op::kCreate) {
        pb::CreateVolumeResponse created;
        retried = csi().CreateVolume(VolumeRequest(op.name, kVolumeBytes), &created);
        if (retried.ok()) volume_hashes[created.volume().volume_id()] = zero_hash;
      } else if (op.kind == Op::kClone) {
        pb::CreateVolumeResponse created;
        retried = csi().CreateVolume(CloneRequest(op.name, op.subject), &created);
        if (retried.ok()) {
          EXPECT_EQ(VolumeHash(created.volume().volume_id()), source_hash);
          volume_hashes[created.volume().volume_id()] = source_hash;
        }
      } else if (op.kind == Op::kSnapshot) {
        pb::CreateSnapshotResponse snap;
        retried = csi().CreateSnapshot(op.name, op.subject, &snap);
        if (retried.ok()) {
          EXPECT_EQ(SnapshotHash(snap.snapshot().snapshot_id()), source_hash);
          snapshot_hashes[snap.snapshot().snapshot_id()] = source_hash;
        }
      } else {
        retried = csi().DeleteVolume(op.subject);
        if (retried.ok()) volume_hashes.erase(op.subject);
      }
      EXPECT_TRUE(retried.ok()) << "repeating " << (op.name.empty() ? op.subject : op.name)
                                << " after the power cut: " << Describe(retried);
    }
    // Nothing half-made: with dittod stopped, catalog, files and mounts agree.
    ASSERT_NO_FATAL_FAILURE(StopDaemon());
    auto problems = PoolProblems();
    EXPECT_TRUE(problems.empty()) << "after the power cut:\n" << JoinLines(problems);
    acknowledged_total += acknowledged;
    lost_total += lost;
    std::printf("power loss: cut %d: %d operations acknowledged before the cut, %d lost, %zu "
                "cut off and repeated\n",
                cut + 1, acknowledged, lost,
                static_cast<size_t>(std::count_if(ops_.begin(), ops_.end(),
                                                  [](const Op& op) { return !op.acknowledged; })));
    if (FailureCount() == failures_before) ++recovered;
  }
  // Leave nothing staged.
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  EXPECT_TRUE(csi().NodeUnstage(live_id, live_staging).ok());
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  auto problems = PoolProblems();
  EXPECT_TRUE(problems.empty()) << JoinLines(problems);

  std::printf(
      "power loss: %d power cuts, %d recovered, %d acknowledged operations lost (of %d; %d cut "
      "off and completed on retry; %d requests in flight at the cuts)\n",
      kCuts, recovered, lost_total, acknowledged_total, retried_total, in_flight_total);
  EXPECT_EQ(recovered, kCuts);
  EXPECT_EQ(lost_total, 0);
  EXPECT_GT(acknowledged_total, kCuts) << "the load did not run before the cuts";
}

}  // namespace
}  // namespace ditto::reliability
