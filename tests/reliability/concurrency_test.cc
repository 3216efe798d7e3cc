// Concurrency over a real dittod: many CreateVolume calls with one name, clones
// of a volume that is being written to, DeleteVolume racing a clone of the
// same source, and two dittoctl processes applying at once.
#include <atomic>
#include <barrier>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "fmt/format.h"
#include "reliability/daemon_fixture.h"
#include "support/sha256.h"
#include "support/test_data.h"
#include "support/pool_paths.h"

namespace ditto::reliability {
namespace {

using namespace std::chrono_literals;

// Repeats `call` while it answers ABORTED (another operation holds the same
// volume or name), as a CO's retry loop does.
template <typename Call>
grpc::Status RetryAborted(Call&& call, int* aborted_count = nullptr) {
  std::minstd_rand random(std::random_device{}());
  for (int attempt = 0;; ++attempt) {
    grpc::Status status = call();
    if (status.error_code() != grpc::StatusCode::ABORTED || attempt >= 2000) return status;
    if (aborted_count != nullptr) ++*aborted_count;
    std::this_thread::sleep_for(std::chrono::microseconds(500 + random() % 4500));
  }
}

// A dittod stopped by a sanitizer report ends the test at once, instead of
// leaving a writer blocked on a filesystem it froze.
class ConcurrencyTest : public DaemonTest {
 protected:
  ConcurrencyTest() { end_test_if_daemon_dies_ = true; }
};

TEST_F(ConcurrencyTest, HundredCreatesOfOneNameMakeOneVolume) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  constexpr int kCalls = 100;
  std::vector<grpc::Status> results(kCalls);
  std::vector<std::string> ids(kCalls);
  std::atomic<int> aborted{0};
  std::barrier start(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      CsiClient client(daemon().channel());
      start.arrive_and_wait();
      int retries = 0;
      pb::CreateVolumeResponse response;
      results[i] = RetryAborted(
          [&] { return client.CreateVolume(VolumeRequest("same-name", 64 << 20), &response); },
          &retries);
      ids[i] = response.volume().volume_id();
      aborted += retries;
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> distinct;
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_TRUE(results[i].ok()) << "call " << i << ": " << Describe(results[i]);
    if (results[i].ok()) distinct.insert(ids[i]);
  }
  EXPECT_EQ(distinct.size(), 1u) << "one name made several volumes";
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  PoolState state;
  auto problems = PoolProblems(&state);
  EXPECT_TRUE(problems.empty()) << JoinLines(problems);
  EXPECT_EQ(state.volumes.size(), 1u);
  EXPECT_EQ(state.volume_files.size(), 1u);
  std::printf(
      "concurrency: %d concurrent CreateVolume of one name -> %zu volume (%d ABORTED "
      "answers retried)\n",
      kCalls, state.volumes.size(), aborted.load());
}

// The writer's files: f-<seq> holds PatternData(kFileBytes, seq), written to
// a temporary name, fsynced, then renamed, so any consistent state of the
// filesystem holds exactly f-1 .. f-k, each complete.
constexpr size_t kFileBytes = 48 << 10;

std::string WriterFile(uint64_t seq) { return fmt::format("f-{:06}", seq); }

// Checks a tree the writer wrote: returns "" when consistent, else why not.
std::string CheckWriterTree(const std::string& dir, uint64_t* files_out) {
  std::set<uint64_t> seqs;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    std::string name = entry.path().filename();
    if (name.rfind("f-", 0) != 0 || name.find('.') != std::string::npos) continue;
    seqs.insert(std::stoull(name.substr(2)));
  }
  if (error) return "cannot list " + dir + ": " + error.message();
  uint64_t expected = 1;
  for (uint64_t seq : seqs) {
    if (seq != expected)
      return fmt::format("file {} is missing but {} exists", WriterFile(expected), WriterFile(seq));
    ++expected;
    auto content = ReadWholeFile(dir + "/" + WriterFile(seq));
    if (!content.ok() || *content != test::PatternData(kFileBytes, seq)) {
      return fmt::format("{} is torn ({} bytes)", WriterFile(seq),
                         content.ok() ? content->size() : 0);
    }
  }
  *files_out = seqs.size();
  return "";
}

TEST_F(ConcurrencyTest, SixteenClonesOfAVolumeBeingWritten) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  pb::CreateVolumeResponse source;
  ASSERT_TRUE(csi().CreateVolume(VolumeRequest("busy-source", 128 << 20), &source).ok());
  const std::string source_id = source.volume().volume_id();
  const std::string staging = work_.StagingPath("busy-source");
  const std::string target = work_.TargetPath("busy-source");
  ASSERT_TRUE(csi().NodeStage(source_id, staging).ok());
  grpc::Status published = csi().NodePublish(source_id, staging, target);
  ASSERT_TRUE(published.ok()) << Describe(published);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> written{0};
  std::string writer_error;
  std::thread writer([&] {
    for (uint64_t seq = 1; !stop; ++seq) {
      std::string temp = target + "/" + WriterFile(seq) + ".tmp";
      Status status = WriteFileSynced(temp, test::PatternData(kFileBytes, seq));
      if (status.ok() && std::rename(temp.c_str(), (target + "/" + WriterFile(seq)).c_str()) != 0) {
        status = absl::InternalError("rename failed");
      }
      if (!status.ok()) {
        writer_error = std::string(status.message());
        return;
      }
      written = seq;
    }
  });
  while (written < 20 && writer_error.empty()) std::this_thread::sleep_for(5ms);

  constexpr int kClones = 16;
  std::vector<std::string> clone_ids(kClones);
  std::vector<grpc::Status> results(kClones);
  // Files the writer had completed (fsynced and renamed) when each clone was
  // requested: the clone must hold at least those.
  std::vector<uint64_t> written_before(kClones);
  std::atomic<int> aborted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClones; ++i) {
    threads.emplace_back([&, i] {
      CsiClient client(daemon().channel());
      std::this_thread::sleep_for(std::chrono::milliseconds(7 * i));  // spread over the writes
      written_before[i] = written;
      int retries = 0;
      pb::CreateVolumeResponse response;
      results[i] = RetryAborted(
          [&] {
            return client.CreateVolume(CloneRequest(fmt::format("busy-clone-{}", i), source_id),
                                       &response);
          },
          &retries);
      clone_ids[i] = response.volume().volume_id();
      aborted += retries;
    });
  }
  for (auto& thread : threads) thread.join();
  stop = true;
  writer.join();
  EXPECT_EQ(writer_error, "") << "the writer failed while clones were taken";

  int clean = 0;
  uint64_t min_files = UINT64_MAX, max_files = 0;
  for (int i = 0; i < kClones; ++i) {
    SCOPED_TRACE(fmt::format("clone {}", i));
    ASSERT_TRUE(results[i].ok()) << Describe(results[i]);
    std::string image = test::PoolImagePath(work_.DataDir(), "volumes", clone_ids[i]);
    // A copy of a mounted ext4 taken without FIFREEZE still needs journal
    // recovery (and e2fsck -n skips the journal, so it alone would pass).
    ToolResult features = RunTool({"dumpe2fs", "-h", image});
    ASSERT_EQ(features.exit_code, 0) << features.output;
    bool needs_recovery = features.output.find("needs_recovery") != std::string::npos;
    EXPECT_FALSE(needs_recovery) << "the clone's journal needs recovery: it was not taken frozen";
    ToolResult fsck = RunTool({"e2fsck", "-f", "-n", image});
    EXPECT_EQ(fsck.exit_code, 0) << "the clone's filesystem is not clean:\n" << fsck.output;
    std::string clone_staging = work_.StagingPath(fmt::format("busy-clone-{}", i));
    grpc::Status staged = csi().NodeStage(clone_ids[i], clone_staging);
    ASSERT_TRUE(staged.ok()) << Describe(staged);
    uint64_t files = 0;
    std::string problem = CheckWriterTree(clone_staging, &files);
    EXPECT_EQ(problem, "") << "the clone holds an inconsistent state";
    EXPECT_GE(files, written_before[i])
        << "the clone lacks files the writer had fsynced before the clone was requested";
    grpc::Status unstaged = csi().NodeUnstage(clone_ids[i], clone_staging);
    EXPECT_TRUE(unstaged.ok()) << Describe(unstaged);
    if (!needs_recovery && fsck.exit_code == 0 && problem.empty() && files >= written_before[i]) {
      ++clean;
    }
    min_files = std::min(min_files, files);
    max_files = std::max(max_files, files);
  }
  EXPECT_TRUE(csi().NodeUnpublish(source_id, target).ok());
  EXPECT_TRUE(csi().NodeUnstage(source_id, staging).ok());
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  auto problems = PoolProblems();
  EXPECT_TRUE(problems.empty()) << JoinLines(problems);
  std::printf(
      "concurrency: %d clones taken while a writer wrote %llu files -> %d clean (no journal "
      "recovery needed, e2fsck) and holding every file fsynced before their request "
      "(%llu..%llu complete files each; %d ABORTED answers retried)\n",
      kClones, static_cast<unsigned long long>(written.load()), clean,
      static_cast<unsigned long long>(min_files), static_cast<unsigned long long>(max_files),
      aborted.load());
  EXPECT_EQ(clean, kClones);
}

TEST_F(ConcurrencyTest, DeleteSourceRacingCloneSource) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  constexpr int kRounds = 12;
  int complete = 0, refused = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    std::string source = MakeVolumeWithFiles(fmt::format("race-source-{}", round), 32 << 20,
                                             {{"data", test::PatternData(2 << 20, round)}});
    ASSERT_FALSE(source.empty());
    std::string source_hash = VolumeHash(source);
    grpc::Status deleted, cloned;
    pb::CreateVolumeResponse clone;
    std::barrier start(2);
    std::thread deleter([&] {
      CsiClient client(daemon().channel());
      start.arrive_and_wait();
      if (round % 2 == 1) std::this_thread::sleep_for(std::chrono::microseconds(300 * round));
      deleted = RetryAborted([&] { return client.DeleteVolume(source); });
    });
    std::thread cloner([&] {
      CsiClient client(daemon().channel());
      start.arrive_and_wait();
      if (round % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300 * round));
      cloned =
          client.CreateVolume(CloneRequest(fmt::format("race-clone-{}", round), source), &clone);
    });
    deleter.join();
    cloner.join();
    EXPECT_TRUE(deleted.ok()) << Describe(deleted);
    if (cloned.ok()) {
      ++complete;
      EXPECT_EQ(VolumeHash(clone.volume().volume_id()), source_hash)
          << "the clone raced by a delete of its source is torn";
    } else {
      ++refused;
      EXPECT_TRUE(cloned.error_code() == grpc::StatusCode::NOT_FOUND ||
                  cloned.error_code() == grpc::StatusCode::ABORTED)
          << Describe(cloned);
    }
  }
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  PoolState state;
  auto problems = PoolProblems(&state);
  EXPECT_TRUE(problems.empty()) << JoinLines(problems);
  EXPECT_EQ(state.volumes.size(), static_cast<size_t>(complete));
  std::printf(
      "concurrency: %d delete-source vs clone-source races -> %d complete clones, %d "
      "NOT_FOUND/ABORTED, 0 torn\n",
      kRounds, complete, refused);
}

#ifdef DITTOCTL_PATH
// Two dittoctl processes apply different claims into one state directory at
// the same moment (the driver in-process, as a user runs it): every object of
// both files must exist afterwards.
TEST_F(ConcurrencyTest, TwoDittoctlAppliesLoseNothing) {
  const std::string state = work_.Join("state");
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {DITTOCTL_PATH, "--state", state, "--pool-size", "1Gi"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunTool(argv);
  };
  ToolResult ns = ctl({"create", "namespace", "race"});
  ASSERT_EQ(ns.exit_code, 0) << ns.output;
  constexpr int kClaims = 8;
  for (const char* side : {"a", "b"}) {
    std::string yaml;
    for (int i = 0; i < kClaims; ++i) {
      yaml += fmt::format(R"(---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: claim-{}-{}
  namespace: race
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 16Mi
)",
                          side, i);
    }
    ASSERT_TRUE(WriteFileSynced(work_.Join(fmt::format("{}.yaml", side)), yaml).ok());
  }
  ToolResult results[2];
  std::barrier start(2);
  std::thread a([&] {
    start.arrive_and_wait();
    results[0] = ctl({"apply", "-f", work_.Join("a.yaml")});
  });
  std::thread b([&] {
    start.arrive_and_wait();
    results[1] = ctl({"apply", "-f", work_.Join("b.yaml")});
  });
  a.join();
  b.join();
  EXPECT_EQ(results[0].exit_code, 0) << results[0].output;
  EXPECT_EQ(results[1].exit_code, 0) << results[1].output;
  ToolResult listed = ctl({"get", "pvc", "-n", "race", "--no-headers"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  int found = 0, bound = 0;
  for (const char* side : {"a", "b"}) {
    for (int i = 0; i < kClaims; ++i) {
      std::string name = fmt::format("claim-{}-{} ", side, i);
      size_t at = listed.output.find(name);
      if (at == std::string::npos) continue;
      ++found;
      if (listed.output.find("Bound", at) < listed.output.find('\n', at)) ++bound;
    }
  }
  EXPECT_EQ(found, 2 * kClaims) << listed.output;
  EXPECT_EQ(bound, 2 * kClaims) << listed.output;
  std::printf("concurrency: 2 dittoctl applies of %d claims each at once -> %d claims, %d Bound\n",
              kClaims, found, bound);
  // The pool agrees with its catalog afterwards.
  auto pool = ReadPoolState(state + "/pool/data");
  if (!pool.ok()) pool = ReadPoolState(state + "/pool");
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto problems = Inconsistencies(*pool);
  EXPECT_TRUE(problems.empty()) << JoinLines(problems);
  EXPECT_EQ(pool->volumes.size(), static_cast<size_t>(2 * kClaims));
}
#endif

}  // namespace
}  // namespace ditto::reliability
