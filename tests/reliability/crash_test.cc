// Crash at every step, over the daemon: for each failpoint in AllFailpoints(),
// dittod runs with DITTO_FAILPOINTS=<name>=crash, the matching RPC kills it
// there (SIGKILL), dittod restarts without the failpoint, the request is
// repeated and must succeed, and then — with dittod stopped — the catalog,
// the image files and the kernel's mounts and loop devices must agree, every
// volume and snapshot finished before the crash must keep its content hash,
// and every staged volume must still work.
//
// The `.frozen` failpoints of a clone and a snapshot crash with their source
// staged, so inside a real freeze: the test checks that the source's
// filesystem was frozen at the crash and works again after the restart. (A
// restore's source is a snapshot, never mounted: its window freezes nothing.)
//
// Prints "N failpoints in M crashes, M survived, F inside a freeze" and
// asserts the figures docs/reliability.md gives.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "common/failpoint.h"
#include "common/ids.h"
#include "fmt/format.h"
#include "reliability/daemon_fixture.h"
#include "support/sha256.h"
#include "support/test_data.h"
#include "support/pool_paths.h"

namespace ditto::reliability {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kVolumeBytes = 32ll << 20;
constexpr int64_t kExpandedBytes = 48ll << 20;
// The figures of docs/reliability.md (each backend): failpoints, crashes (one failpoint of
// the CSI boundary is passed by three kinds of CreateVolume), and crashes
// inside a real freeze (clone, snapshot, group snapshot).
constexpr size_t kReadmeFailpoints = 25;
constexpr size_t kReadmeCrashes = 27;
constexpr int kReadmeFrozenCrashes = 3;

// A clone or snapshot whose crash comes inside the freeze window.
bool CopiesFrozen(const std::string& failpoint) { return failpoint.ends_with(".frozen"); }

// Whether the filesystem mounted at `mount_point` is frozen, without
// changing that: FIFREEZE fails EBUSY on a frozen one; one it froze is
// thawed again at once.
bool IsFrozen(const std::string& mount_point) {
  int fd = ::open(mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool frozen = false;
  if (::ioctl(fd, FIFREEZE, 0) == 0) {
    (void)::ioctl(fd, FITHAW, 0);
  } else {
    frozen = errno == EBUSY;
  }
  ::close(fd);
  return frozen;
}

enum class Kind {
  kCreate,
  kClone,
  kRestore,
  kSnapshot,
  kExpand,
  kDeleteVolume,
  kDeleteSnapshot,
  kStage,
  kPublish,
  kUnpublish,
  kUnstage,
  kGroupSnapshot,
};

// Which RPCs reach a failpoint, by its name's prefix. A failpoint with no
// entry fails the test: a new failpoint needs a scenario here. A failpoint
// several RPCs pass (the CSI boundary's) gets one round per RPC.
std::vector<Kind> KindsOf(std::string_view failpoint) {
  static const std::vector<std::pair<std::string_view, std::vector<Kind>>> kPrefixes = {
      {"csi.create_volume.", {Kind::kCreate, Kind::kClone, Kind::kRestore}},
      {"csi.create_snapshot.", {Kind::kSnapshot}},
      {"pool.create.", {Kind::kCreate}},
      {"pool.clone.", {Kind::kClone}},
      {"pool.restore.", {Kind::kRestore}},
      {"pool.snapshot.", {Kind::kSnapshot}},
      {"pool.expand.", {Kind::kExpand}},
      {"pool.delete_volume.", {Kind::kDeleteVolume}},
      {"pool.delete_snapshot.", {Kind::kDeleteSnapshot}},
      {"node.stage.", {Kind::kStage}},
      {"node.publish.", {Kind::kPublish}},
      {"node.unpublish.", {Kind::kUnpublish}},
      {"node.unstage.", {Kind::kUnstage}},
      {"pool.group_snapshot.", {Kind::kGroupSnapshot}},
  };
  for (const auto& [prefix, kinds] : kPrefixes) {
    if (failpoint.substr(0, prefix.size()) == prefix) return kinds;
  }
  return {};
}

bool Creates(Kind kind) {
  return kind == Kind::kCreate || kind == Kind::kClone || kind == Kind::kRestore ||
         kind == Kind::kSnapshot;
}

// One failpoint's subject: what the matching RPC acts on.
struct Round {
  std::string failpoint;
  Kind kind;
  std::string name;       // name of the volume/snapshot the RPC creates
  std::string subject;    // ID the RPC acts on (delete, expand, node RPCs)
  std::string staging;    // node RPCs
  std::string target;     // publish/unpublish
  std::string result_id;  // what the retried request made
};

// A staged (and possibly published) volume that must keep working across
// every crash and restart: a file written through `path` reads back.
struct LiveVolume {
  std::string id;
  std::string path;  // staging or target path
  std::string file;
  std::string hash;
};

class CrashTest : public DaemonTest {
 protected:
  // Makes the subject each round's RPC needs, with a normal daemon.
  void Prepare(Round& round);
  grpc::Status Request(Round& round);
  // After the retried request succeeded: its result is what it should be.
  void Verify(Round& round);
  // With a normal daemon: every live volume still works.
  void CheckLiveVolumes(const std::string& when);
  // With dittod stopped: the pool is consistent and finished images kept
  // their hashes.
  void CheckPool(const std::string& when);
  void AddLive(const std::string& id, const std::string& path, uint64_t seed);

  std::string source_id_;                               // clone source, never modified
  std::string snapshot_id_;                             // restore source
  std::map<std::string, std::string> volume_hashes_;    // finished, unstaged
  std::map<std::string, std::string> snapshot_hashes_;  // finished
  std::vector<LiveVolume> live_;
  int counter_ = 0;
};

void CrashTest::AddLive(const std::string& id, const std::string& path, uint64_t seed) {
  LiveVolume live{id, path, fmt::format("live-{}.bin", seed), ""};
  std::string data = test::PatternData(256 << 10, seed);
  Status written = WriteFileSynced(path + "/" + live.file, data);
  ASSERT_TRUE(written.ok()) << written;
  live.hash = test::Sha256(data);
  live_.push_back(live);
}

void CrashTest::Prepare(Round& round) {
  int n = ++counter_;
  round.name = fmt::format("r{}-{}", n, round.failpoint);
  for (char& c : round.name) {
    if (c == '.' || c == '_') c = '-';
  }
  auto fresh_volume = [&](const std::string& name) {
    pb::CreateVolumeResponse created;
    grpc::Status status = csi().CreateVolume(VolumeRequest(name, kVolumeBytes), &created);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return created.volume().volume_id();
  };
  switch (round.kind) {
    case Kind::kClone:
    case Kind::kSnapshot:
      if (CopiesFrozen(round.failpoint)) {
        // A source of its own, staged: the copy freezes its filesystem.
        round.subject = fresh_volume(round.name + "-source");
        round.staging = work_.StagingPath(round.name);
        grpc::Status status = csi().NodeStage(round.subject, round.staging);
        ASSERT_TRUE(status.ok()) << Describe(status);
        ASSERT_NO_FATAL_FAILURE(AddLive(round.subject, round.staging, 2000 + n));
      }
      break;
    case Kind::kCreate:
    case Kind::kRestore:
      break;
    case Kind::kExpand:
    case Kind::kDeleteVolume:
      round.subject = fresh_volume(round.name + "-subject");
      volume_hashes_[round.subject] = VolumeHash(round.subject);
      break;
    case Kind::kDeleteSnapshot: {
      pb::CreateSnapshotResponse snap;
      grpc::Status status = csi().CreateSnapshot(round.name + "-subject", source_id_, &snap);
      ASSERT_TRUE(status.ok()) << Describe(status);
      round.subject = snap.snapshot().snapshot_id();
      break;
    }
    case Kind::kStage:
      round.subject = fresh_volume(round.name + "-subject");
      round.staging = work_.StagingPath(round.name);
      break;
    case Kind::kGroupSnapshot: {
      // A group of the clone source and a mounted volume: the crash comes
      // while the mounted one is frozen.
      round.subject = fresh_volume(round.name + "-subject");
      round.staging = work_.StagingPath(round.name);
      grpc::Status status = csi().NodeStage(round.subject, round.staging);
      ASSERT_TRUE(status.ok()) << Describe(status);
      break;
    }
    case Kind::kPublish:
    case Kind::kUnpublish:
    case Kind::kUnstage: {
      round.subject = fresh_volume(round.name + "-subject");
      round.staging = work_.StagingPath(round.name);
      round.target = work_.TargetPath(round.name);
      grpc::Status status = csi().NodeStage(round.subject, round.staging);
      ASSERT_TRUE(status.ok()) << Describe(status);
      if (round.kind == Kind::kUnpublish) {
        status = csi().NodePublish(round.subject, round.staging, round.target);
        ASSERT_TRUE(status.ok()) << Describe(status);
      }
      break;
    }
  }
}

grpc::Status CrashTest::Request(Round& round) {
  pb::CreateVolumeResponse created;
  pb::CreateSnapshotResponse snap;
  grpc::Status status;
  switch (round.kind) {
    case Kind::kCreate:
      status = csi().CreateVolume(VolumeRequest(round.name, kVolumeBytes), &created);
      round.result_id = created.volume().volume_id();
      return status;
    case Kind::kClone:
      status = csi().CreateVolume(
          CloneRequest(round.name, round.subject.empty() ? source_id_ : round.subject), &created);
      round.result_id = created.volume().volume_id();
      return status;
    case Kind::kRestore:
      status = csi().CreateVolume(RestoreRequest(round.name, snapshot_id_), &created);
      round.result_id = created.volume().volume_id();
      return status;
    case Kind::kSnapshot:
      status = csi().CreateSnapshot(round.name, round.subject.empty() ? source_id_ : round.subject,
                                    &snap);
      round.result_id = snap.snapshot().snapshot_id();
      return status;
    case Kind::kExpand:
      return csi().ControllerExpandVolume(round.subject, kExpandedBytes);
    case Kind::kDeleteVolume:
      return csi().DeleteVolume(round.subject);
    case Kind::kDeleteSnapshot:
      return csi().DeleteSnapshot(round.subject);
    case Kind::kStage:
      return csi().NodeStage(round.subject, round.staging);
    case Kind::kPublish:
      return csi().NodePublish(round.subject, round.staging, round.target);
    case Kind::kUnpublish:
      return csi().NodeUnpublish(round.subject, round.target);
    case Kind::kUnstage:
      return csi().NodeUnstage(round.subject, round.staging);
    case Kind::kGroupSnapshot: {
      auto groups = pb::GroupController::NewStub(daemon().channel());
      pb::CreateVolumeGroupSnapshotRequest request;
      request.set_name(round.name);
      request.add_source_volume_ids(source_id_);
      request.add_source_volume_ids(round.subject);
      pb::CreateVolumeGroupSnapshotResponse response;
      status = groups->CreateVolumeGroupSnapshot(csi().Context().get(), request, &response);
      round.result_id = response.group_snapshot().group_snapshot_id();
      for (const auto& member : response.group_snapshot().snapshots()) {
        if (member.source_volume_id() == source_id_) round.target = member.snapshot_id();
      }
      return status;
    }
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "unknown kind");
}

void CrashTest::Verify(Round& round) {
  const std::string data = work_.DataDir();
  pb::ListVolumesResponse listed;
  ASSERT_TRUE(csi().ListVolumes(&listed).ok());
  auto listed_ids = [&] {
    std::set<std::string> ids;
    for (const auto& entry : listed.entries()) ids.insert(entry.volume().volume_id());
    return ids;
  }();
  switch (round.kind) {
    case Kind::kCreate:
      ASSERT_TRUE(IsValidVolumeId(round.result_id)) << round.result_id;
      EXPECT_TRUE(listed_ids.count(round.result_id));
      volume_hashes_[round.result_id] = VolumeHash(round.result_id);
      break;
    case Kind::kClone:
      ASSERT_TRUE(IsValidVolumeId(round.result_id)) << round.result_id;
      if (!round.subject.empty()) {
        // Of a mounted source (its image changes as it is used): listed;
        // the source keeps working (a live volume).
        EXPECT_TRUE(listed_ids.count(round.result_id));
        break;
      }
      EXPECT_EQ(VolumeHash(round.result_id), volume_hashes_[source_id_])
          << "the clone made after a crash differs from its source";
      volume_hashes_[round.result_id] = VolumeHash(round.result_id);
      break;
    case Kind::kRestore:
      ASSERT_TRUE(IsValidVolumeId(round.result_id)) << round.result_id;
      EXPECT_EQ(VolumeHash(round.result_id), snapshot_hashes_[snapshot_id_])
          << "the volume restored after a crash differs from its snapshot";
      volume_hashes_[round.result_id] = VolumeHash(round.result_id);
      break;
    case Kind::kSnapshot:
      ASSERT_TRUE(IsValidSnapshotId(round.result_id)) << round.result_id;
      if (!round.subject.empty()) {
        snapshot_hashes_[round.result_id] = SnapshotHash(round.result_id);
        break;
      }
      EXPECT_EQ(SnapshotHash(round.result_id), volume_hashes_[source_id_])
          << "the snapshot taken after a crash differs from its source";
      snapshot_hashes_[round.result_id] = SnapshotHash(round.result_id);
      break;
    case Kind::kExpand:
      for (const auto& entry : listed.entries()) {
        if (entry.volume().volume_id() == round.subject) {
          EXPECT_EQ(entry.volume().capacity_bytes(), kExpandedBytes);
        }
      }
      // Growing keeps the data: the old bytes are a prefix (all zero here).
      volume_hashes_[round.subject] = VolumeHash(round.subject);
      break;
    case Kind::kDeleteVolume:
      EXPECT_FALSE(listed_ids.count(round.subject)) << "deleted volume still listed";
      volume_hashes_.erase(round.subject);
      break;
    case Kind::kDeleteSnapshot: {
      pb::ListSnapshotsRequest request;
      request.set_snapshot_id(round.subject);
      pb::ListSnapshotsResponse snapshots;
      grpc::Status status =
          csi().controller().ListSnapshots(csi().Context().get(), request, &snapshots);
      ASSERT_TRUE(status.ok()) << Describe(status);
      EXPECT_EQ(snapshots.entries_size(), 0) << "deleted snapshot still listed";
      EXPECT_FALSE(std::filesystem::exists(
          test::PoolImagePath(work_.DataDir(), "snapshots", round.subject)))
          << "deleted snapshot's image still exists";
      snapshot_hashes_.erase(round.subject);
      break;
    }
    case Kind::kStage: {
      pb::NodeGetVolumeStatsResponse stats;
      grpc::Status status = csi().NodeGetVolumeStats(round.subject, round.staging, &stats);
      ASSERT_TRUE(status.ok()) << Describe(status);
      EXPECT_FALSE(stats.volume_condition().abnormal()) << stats.volume_condition().message();
      AddLive(round.subject, round.staging, counter_);
      break;
    }
    case Kind::kPublish:
      EXPECT_TRUE(IsMountPoint(round.target));
      AddLive(round.subject, round.target, counter_);
      break;
    case Kind::kUnpublish:
      EXPECT_FALSE(IsMountPoint(round.target)) << round.target << " is still mounted";
      AddLive(round.subject, round.staging, counter_);
      break;
    case Kind::kGroupSnapshot:
      ASSERT_TRUE(IsValidGroupSnapshotId(round.result_id)) << round.result_id;
      ASSERT_TRUE(IsValidSnapshotId(round.target)) << round.target;
      EXPECT_EQ(SnapshotHash(round.target), volume_hashes_[source_id_])
          << "the group member taken after a crash differs from its source";
      snapshot_hashes_[round.target] = SnapshotHash(round.target);
      // The member that was frozen when dittod died works again.
      AddLive(round.subject, round.staging, counter_);
      break;
    case Kind::kUnstage: {
      EXPECT_FALSE(IsMountPoint(round.staging)) << round.staging << " is still mounted";
      auto loops = LoopsBackingSettled(test::PoolImagePath(data, "volumes", round.subject), 10s);
      EXPECT_TRUE(loops.empty()) << "a loop device still backs the unstaged volume: "
                                 << fmt::format("{}", fmt::join(loops, ", "));
      volume_hashes_[round.subject] = VolumeHash(round.subject);
      break;
    }
  }
}

void CrashTest::CheckLiveVolumes(const std::string& when) {
  for (const auto& live : live_) {
    auto content = ReadWholeFile(live.path + "/" + live.file);
    ASSERT_TRUE(content.ok()) << when << ": " << content.status();
    EXPECT_EQ(test::Sha256(*content), live.hash) << when << ": " << live.path << "/" << live.file;
    std::string probe = live.path + "/probe";
    Status written = WriteFileSynced(probe, when);
    EXPECT_TRUE(written.ok()) << when << ": staged volume " << live.id
                              << " no longer writable: " << written;
    pb::NodeGetVolumeStatsResponse stats;
    grpc::Status status = csi().NodeGetVolumeStats(live.id, live.path, &stats);
    EXPECT_TRUE(status.ok()) << when << ": " << Describe(status);
    EXPECT_FALSE(stats.volume_condition().abnormal())
        << when << ": " << stats.volume_condition().message();
  }
}

void CrashTest::CheckPool(const std::string& when) {
  PoolState state;
  std::vector<std::string> problems = PoolProblems(&state);
  EXPECT_TRUE(problems.empty()) << when << ": the pool is inconsistent:\n" << JoinLines(problems);
  for (const auto& [id, hash] : volume_hashes_) {
    EXPECT_TRUE(state.volumes.count(id)) << when << ": finished volume " << id << " is gone";
    EXPECT_EQ(VolumeHash(id), hash) << when << ": finished volume " << id << " changed";
  }
  for (const auto& [id, hash] : snapshot_hashes_) {
    EXPECT_TRUE(state.snapshots.count(id)) << when << ": finished snapshot " << id << " is gone";
    EXPECT_EQ(SnapshotHash(id), hash) << when << ": finished snapshot " << id << " changed";
  }
}

TEST_F(CrashTest, EveryFailpointOverTheDaemon) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  // What every round relies on: a clone source with data, a snapshot of it,
  // and a staged+published volume that must keep working throughout.
  source_id_ = MakeVolumeWithFiles(
      "source", kVolumeBytes,
      {{"a.bin", test::PatternData(1 << 20, 1)}, {"b.bin", test::PatternData(300 << 10, 2)}});
  ASSERT_FALSE(source_id_.empty());
  volume_hashes_[source_id_] = VolumeHash(source_id_);
  pb::CreateSnapshotResponse snap;
  grpc::Status status = csi().CreateSnapshot("source-snap", source_id_, &snap);
  ASSERT_TRUE(status.ok()) << Describe(status);
  snapshot_id_ = snap.snapshot().snapshot_id();
  snapshot_hashes_[snapshot_id_] = SnapshotHash(snapshot_id_);
  pb::CreateVolumeResponse keeper;
  ASSERT_TRUE(csi().CreateVolume(VolumeRequest("keeper", kVolumeBytes), &keeper).ok());
  std::string keeper_stage = work_.StagingPath("keeper");
  std::string keeper_target = work_.TargetPath("keeper");
  ASSERT_TRUE(csi().NodeStage(keeper.volume().volume_id(), keeper_stage).ok());
  ASSERT_TRUE(csi().NodePublish(keeper.volume().volume_id(), keeper_stage, keeper_target).ok());
  ASSERT_NO_FATAL_FAILURE(AddLive(keeper.volume().volume_id(), keeper_target, 1000));

  // Prepare every round's subject up front (one daemon), then crash each.
  std::vector<Round> rounds;
  for (std::string_view failpoint : AllFailpoints()) {
    auto kinds = KindsOf(failpoint);
    if (kinds.empty()) {
      ADD_FAILURE() << "failpoint " << failpoint
                    << " has no crash scenario; add its RPC to KindsOf() in crash_test.cc";
      continue;
    }
    for (Kind kind : kinds) {
      Round round{std::string(failpoint), kind};
      ASSERT_NO_FATAL_FAILURE(Prepare(round));
      rounds.push_back(round);
    }
  }
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  CheckPool("before the first crash");

  int survived = 0;
  int frozen_crashes = 0;
  std::vector<std::string> not_hit;
  for (Round& round : rounds) {
    int failures_before = FailureCount();
    SCOPED_TRACE("failpoint " + round.failpoint);
    ASSERT_NO_FATAL_FAILURE(StartDaemon(round.failpoint + "=crash"));
    grpc::Status crashed = Request(round);
    auto exit = daemon().WaitForExit(20s);
    if (!exit.ok()) {
      // The RPC finished without reaching the failpoint.
      not_hit.push_back(round.failpoint);
      ADD_FAILURE() << "failpoint " << round.failpoint << " was not reached by its RPC (which "
                    << "returned " << Describe(crashed) << ")";
      ASSERT_NO_FATAL_FAILURE(StopDaemon());
    } else {
      EXPECT_TRUE(WIFSIGNALED(*exit) && WTERMSIG(*exit) == SIGKILL)
          << "dittod did not die by SIGKILL at " << round.failpoint << " (wait status " << *exit
          << ")";
      EXPECT_FALSE(crashed.ok()) << "the RPC reported success although dittod crashed in it";
      // Inside a freeze window with a mounted source, the crash left it
      // frozen (the restart thaws it; CheckLiveVolumes writes into it).
      const bool mounted_source = round.kind == Kind::kGroupSnapshot ||
                                  ((round.kind == Kind::kClone || round.kind == Kind::kSnapshot) &&
                                   CopiesFrozen(round.failpoint));
      if (mounted_source && CopiesFrozen(round.failpoint)) {
        const bool frozen = IsFrozen(round.staging);
        EXPECT_TRUE(frozen) << "dittod died at " << round.failpoint << " but " << round.staging
                            << " was not frozen: the window froze nothing";
        if (frozen) ++frozen_crashes;
      }
    }
    // What the crashed create committed (read with dittod dead): a retry must
    // answer with exactly that object, not make a second one or fail.
    std::string committed_id;
    if (Creates(round.kind)) {
      auto state = ReadPoolState(work_.DataDir());
      ASSERT_TRUE(state.ok()) << state.status();
      if (round.kind == Kind::kSnapshot) {
        for (const auto& [id, row] : state->snapshots) {
          if (row.name == round.name) committed_id = id;
        }
      } else {
        for (const auto& [id, row] : state->volumes) {
          if (row.name == round.name) committed_id = id;
        }
      }
      if (round.failpoint.ends_with(".before_reply")) {
        EXPECT_NE(committed_id, "") << "nothing was committed before the reply failpoint";
      }
    }

    ASSERT_NO_FATAL_FAILURE(StartDaemon());
    grpc::Status retried = Request(round);
    EXPECT_TRUE(retried.ok()) << "retry after crash at " << round.failpoint << ": "
                              << Describe(retried) << "\n"
                              << daemon().LogTail(2000);
    if (retried.ok()) Verify(round);
    if (retried.ok() && !committed_id.empty()) {
      EXPECT_EQ(round.result_id, committed_id)
          << "the retry answered with another object than the one committed before the crash";
    }
    CheckLiveVolumes("after " + round.failpoint);
    ASSERT_NO_FATAL_FAILURE(StopDaemon());
    CheckPool("after " + round.failpoint);
    if (FailureCount() == failures_before) ++survived;
  }

  // Leave nothing staged: unpublish and unstage every live volume.
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  EXPECT_TRUE(csi().NodeUnpublish(keeper.volume().volume_id(), keeper_target).ok());
  for (const Round& round : rounds) {
    if (round.kind == Kind::kPublish) {
      EXPECT_TRUE(csi().NodeUnpublish(round.subject, round.target).ok());
    }
  }
  for (const auto& live : live_) {
    std::string staging = live.path.rfind(work_.Join("pub/"), 0) == 0
                              ? work_.Join("stage/" + live.path.substr(work_.Join("pub/").size()))
                              : live.path;
    grpc::Status unstaged = csi().NodeUnstage(live.id, staging);
    EXPECT_TRUE(unstaged.ok()) << Describe(unstaged);
  }
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  CheckPool("at the end");

  const size_t total = AllFailpoints().size();
  std::printf(
      "crash at every step: %zu failpoints in %zu crashes, %d survived, %d inside a freeze\n",
      total, rounds.size(), survived, frozen_crashes);
  if (!not_hit.empty()) std::printf("failpoints never reached: %zu\n", not_hit.size());
  RecordProperty("failpoints", static_cast<int>(total));
  RecordProperty("survived", survived);
  EXPECT_EQ(survived, static_cast<int>(rounds.size()));
  EXPECT_EQ(total, kReadmeFailpoints) << "update docs/reliability.md's figures with the failpoints";
  EXPECT_EQ(rounds.size(), kReadmeCrashes) << "update docs/reliability.md's figures with the rounds";
  EXPECT_EQ(frozen_crashes, kReadmeFrozenCrashes);
}

}  // namespace
}  // namespace ditto::reliability
