// Clone cost against the source's fragmentation, for both pool backends in
// one run: a mounted volume (ext4 on a direct-I/O loop device over its image,
// the way dittod stages it) is rewritten at random in 4 KiB blocks by fio
// after a snapshot shared its blocks, which splits the image into ever more
// extents. At each step the volume is cloned while a writer inside it writes
// and fdatasyncs 4 KiB at a time; the bench prints the clone latency (the
// pool's CreateVolume, freeze included) and the writer's longest pause, then
// cloned as often again with consistency "crash" (no freeze). Two more
// tables: the steps of a clone (each host call the pool makes, timed, median
// over the clones at that point; the rest is the catalog commit and
// bookkeeping), and what FIFREEZE of the volume costs after each way of
// flushing it first, under the same writer.
//
//   extent_bench [--writes 1000,10000,100000,1000000] [--clones N] [--backends btrfs,xfs]
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <tuple>

#include "fmt/format.h"
#include "host/forwarding_host.h"
#include "host/linux_host.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"
#include "support/loop_filesystem.h"
#include "support/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kVolumeBytes = 2048 * kMiB;
constexpr uint64_t kDataBytes = 1536 * kMiB;  // the file fio rewrites inside the volume

void Check(const ditto::Status& status, const std::string& what) {
  if (!status.ok()) {
    std::cerr << what << ": " << status.message() << "\n";
    std::exit(1);
  }
}

void Run(ditto::host::Host& host, const std::vector<std::string>& argv) {
  auto result = host.Run(argv);
  Check(result.status(), argv[0]);
  if (result->exit_code != 0) {
    std::cerr << argv[0] << " failed (exit " << result->exit_code << "): " << result->stderr_text;
    std::exit(1);
  }
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Writes and fdatasyncs 4 KiB at a time into `path` until stopped; records the
// longest single write+fdatasync.
class Writer {
 public:
  explicit Writer(std::string path) : path_(std::move(path)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Writer() { Stop(); }
  double Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return longest_ms_;
  }

 private:
  void Loop() {
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    std::string block(4096, 'w');
    uint64_t offset = 0;
    while (!stop_) {
      auto start = Clock::now();
      if (::pwrite(fd, block.data(), block.size(), offset) < 0 || ::fdatasync(fd) != 0) break;
      longest_ms_ = std::max(longest_ms_, Ms(Clock::now() - start));
      offset = (offset + 4096) % (16 * kMiB);
    }
    ::close(fd);
  }
  std::string path_;
  std::atomic<bool> stop_ = false;
  double longest_ms_ = 0;
  std::thread thread_;
};

// Times the host calls a copy is made of, by step, while recording; the
// pool under test runs on it.
class StepTimingHost : public ditto::host::ForwardingHost {
 public:
  StepTimingHost(ditto::host::Host& target, std::string pool_dir)
      : ForwardingHost(target), pool_dir_(std::move(pool_dir)) {}

  void Record(bool on) {
    std::lock_guard lock(mu_);
    recording_ = on;
    current_.clear();
  }
  // The steps recorded since Record(true), in milliseconds.
  std::map<std::string, double> Take() {
    std::lock_guard lock(mu_);
    return std::move(current_);
  }

  ditto::Status SyncFilesystem(const std::string& path) override {
    return Time(path.rfind(pool_dir_, 0) == 0 ? "2 pool commit (BTRFS_IOC_SYNC or syncfs)"
                                              : "1 syncfs of the volume's filesystem",
                [&] { return target().SyncFilesystem(path); });
  }
  ditto::Status Freeze(const std::string& mount_point) override {
    return Time("3 FIFREEZE", [&] { return target().Freeze(mount_point); });
  }
  ditto::Status SnapshotSubvolume(const std::string& source, const std::string& destination,
                                  bool read_only) override {
    return Time("4 copy (subvolume snapshot or FICLONE)",
                [&] { return target().SnapshotSubvolume(source, destination, read_only); });
  }
  ditto::Status Reflink(const std::string& source, const std::string& destination) override {
    return Time("4 copy (subvolume snapshot or FICLONE)",
                [&] { return target().Reflink(source, destination); });
  }
  ditto::Status Thaw(const std::string& mount_point) override {
    return Time("5 FITHAW", [&] { return target().Thaw(mount_point); });
  }
  ditto::Status SyncFile(const std::string& path) override {
    return Time("6 fsync of the copy", [&] { return target().SyncFile(path); });
  }
  ditto::Status Rename(const std::string& from, const std::string& to) override {
    return Time("7 rename into volumes/", [&] { return target().Rename(from, to); });
  }
  ditto::Status SyncDirectory(const std::string& path) override {
    return Time("8 fsync of a directory", [&] { return target().SyncDirectory(path); });
  }

 private:
  template <typename F>
  ditto::Status Time(const std::string& step, F call) {
    auto start = Clock::now();
    ditto::Status status = call();
    double ms = Ms(Clock::now() - start);
    std::lock_guard lock(mu_);
    if (recording_) current_[step] += ms;
    return status;
  }

  const std::string pool_dir_;
  std::mutex mu_;
  bool recording_ = false;                 // guarded by mu_
  std::map<std::string, double> current_;  // guarded by mu_
};

// How long FIFREEZE of the mounted volume takes after each way of flushing it
// first (median of 5, the writer running): what the freeze itself still has
// to write once the data is out.
struct FreezeTrial {
  std::string before;
  double freeze_ms;
};

std::vector<FreezeTrial> TryFreezes(ditto::host::Host& host, const std::string& mnt,
                                    const std::string& image) {
  auto checkpoint = [&] {
    // EXT4_IOC_CHECKPOINT: writes every journalled block home and empties the
    // journal (what FIFREEZE does inside its window).
    int fd = ::open(mnt.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    uint32_t flags = 0;
    ::ioctl(fd, _IOW('f', 43, uint32_t), &flags);
    ::close(fd);
  };
  auto fsync_image = [&] {
    int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
  };
  struct Way {
    std::string label;
    std::function<void()> before;
  };
  std::vector<Way> ways = {
      {"nothing", [] {}},
      {"syncfs (what the pool does)", [&] { Check(host.SyncFilesystem(mnt), "syncfs"); }},
      {"syncfs, EXT4_IOC_CHECKPOINT",
       [&] {
         Check(host.SyncFilesystem(mnt), "syncfs");
         checkpoint();
       }},
      {"syncfs, fsync of the image",
       [&] {
         Check(host.SyncFilesystem(mnt), "syncfs");
         fsync_image();
       }},
      {"syncfs, EXT4_IOC_CHECKPOINT, fsync of the image",
       [&] {
         Check(host.SyncFilesystem(mnt), "syncfs");
         checkpoint();
         fsync_image();
       }},
  };
  std::vector<FreezeTrial> trials;
  Writer writer(mnt + "/writer");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (const auto& way : ways) {
    std::vector<double> times;
    for (int round = 0; round < 5; ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      way.before();
      auto start = Clock::now();
      Check(host.Freeze(mnt), "freeze");
      times.push_back(Ms(Clock::now() - start));
      Check(host.Thaw(mnt), "thaw");
    }
    trials.push_back({way.label, Median(times)});
  }
  writer.Stop();
  return trials;
}

struct Row {
  std::string backend;
  uint64_t writes;
  uint64_t extents;
  double clone_p50_ms;
  double clone_max_ms;
  double pause_ms;
  // The same clones with consistency "crash" (no freeze).
  double crash_p50_ms;
  double crash_pause_ms;
  std::map<std::string, double> steps;  // median per step of the filesystem-consistent clones
  std::vector<FreezeTrial> freezes;
  int failed = 0;        // filesystem-consistent clones that failed (froze past the limit)
  int crash_failed = 0;  // crash-consistent clones that failed
};

std::vector<Row> Measure(ditto::host::LinuxHost& host, const std::string& backend,
                         const std::vector<uint64_t>& steps, int clones) {
  std::vector<Row> rows;
  std::string fs_type = backend == "btrfs" ? "btrfs" : "xfs";
  auto fs = ditto::test::LoopFilesystem::Create(fs_type, 12ull << 30);
  Check(fs.status(), "loop filesystem");
  std::string dir = (*fs)->mount_point() + "/pool";
  ditto::pool::InitOptions options{.backing = ditto::pool::Backing::kNever};
  options.backend =
      backend == "btrfs" ? ditto::pool::BackendChoice::kBtrfs : ditto::pool::BackendChoice::kXfs;
  StepTimingHost timed(host, dir);
  auto pool = ditto::pool::Pool::Init(timed, dir, options);
  Check(pool.status(), "pool init");
  auto volume = (*pool)->CreateVolume({.name = "db", .capacity_bytes = kVolumeBytes});
  Check(volume.status(), "create");
  std::string id = volume->volume.id;
  // Staged the way dittod stages a volume: ext4 on a direct-I/O loop device.
  auto device = host.AttachLoop((*pool)->VolumePath(id), /*direct_io=*/true, false);
  Check(device.status(), "attach");
  ditto::test::TempDir mnt_dir;
  std::string mnt = mnt_dir.path() + "/mnt";
  Check(host.MakeDirectories(mnt, 0700), "mkdir");
  Run(host, {"mkfs.ext4", "-q", "-F", *device});
  Check(host.Mount(*device, mnt, "ext4", {}), "mount");
  Check((*pool)->catalog().PutStage({.volume_id = id, .staging_path = mnt, .device = *device,
                                     .fs_type = "ext4"}),
        "stage record");
  std::string data = mnt + "/data";
  Run(host, {"fio", "--name=fill", "--filename=" + data, "--rw=write", "--bs=1M", "--direct=1",
             fmt::format("--size={}", kDataBytes), "--ioengine=libaio", "--iodepth=8"});
  // A snapshot shares every block: from now on each rewrite splits an extent.
  Check((*pool)->CreateSnapshot("base", id).status(), "snapshot");
  uint64_t written = 0;
  for (uint64_t target : steps) {
    if (target > written) {
      Run(host, {"fio", "--name=frag", "--filename=" + data, "--rw=randwrite", "--bs=4k",
                 "--direct=1", "--ioengine=libaio", "--iodepth=16", "--norandommap",
                 "--randrepeat=0", fmt::format("--size={}", kDataBytes),
                 fmt::format("--number_ios={}", target - written)});
      written = target;
    }
    Check(host.SyncFilesystem(mnt), "sync");
    auto extents = host.Extents((*pool)->VolumePath(id));
    Check(extents.status(), "fiemap");
    // Clones under a writer: their latencies and the writer's longest pause.
    auto clone_under_writer = [&](ditto::pool::Consistency consistency, const char* tag) {
      std::vector<double> times;
      std::map<std::string, std::vector<double>> steps;
      int failed = 0;
      std::vector<std::string> made;
      Writer writer(mnt + "/writer");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      for (int i = 0; i < clones; ++i) {
        timed.Record(true);
        auto start = Clock::now();
        auto clone = (*pool)->CreateVolume({.name = fmt::format("clone-{}-{}-{}", tag, target, i),
                                            .source_kind = ditto::pool::SourceKind::kVolume,
                                            .source_id = id,
                                            .consistency = consistency});
        times.push_back(Ms(Clock::now() - start));
        auto recorded = timed.Take();
        timed.Record(false);
        double accounted = 0;
        for (const auto& [step, ms] : recorded) {
          steps[step].push_back(ms);
          accounted += ms;
        }
        steps["9 the rest (catalog commit, bookkeeping)"].push_back(times.back() - accounted);
        // An XFS clone of a volume split into a million extents outlasts
        // the freeze limit: its answer (the time until it) is the result.
        if (!clone.ok()) {
          ++failed;
          std::cerr << fmt::format("{} clone after {} writes failed after {:.0f} ms: {}\n",
                                   backend, target, times.back(),
                                   std::string(clone.status().message()));
          continue;
        }
        made.push_back(clone->volume.id);
      }
      double pause = writer.Stop();
      // Deleted after the measurement: freeing a clone of a fragmented
      // image is the pool's next commit's work, which is not a clone's cost.
      for (const auto& made_id : made) Check((*pool)->DeleteVolume(made_id), "delete clone");
      Check(timed.SyncFilesystem(dir), "pool commit after the deletions");
      std::map<std::string, double> step_medians;
      for (auto& [step, values] : steps) {
        // A step missing from some clones counts as 0 there.
        values.resize(clones, 0.0);
        step_medians[step] = Median(values);
      }
      return std::make_tuple(times, pause, step_medians, failed);
    };
    auto [times, pause, steps_ms, failed] =
        clone_under_writer(ditto::pool::Consistency::kFilesystem, "fs");
    auto [crash_times, crash_pause, crash_steps, crash_failed] =
        clone_under_writer(ditto::pool::Consistency::kCrash, "crash");
    rows.push_back({backend, written, extents->size(), Median(times),
                    *std::max_element(times.begin(), times.end()), pause, Median(crash_times),
                    crash_pause, steps_ms, TryFreezes(host, mnt, (*pool)->VolumePath(id)),
                    failed, crash_failed});
    std::cerr << fmt::format("{} after {} writes: {} extents, clone p50 {:.1f} ms, writer pause "
                             "{:.1f} ms; crash-consistent p50 {:.1f} ms, pause {:.1f} ms\n",
                             backend, written, extents->size(), rows.back().clone_p50_ms, pause,
                             rows.back().crash_p50_ms, crash_pause);
  }
  Check((*pool)->catalog().DeleteStage(id), "unstage record");
  Check(host.Unmount(mnt), "unmount");
  Check(host.DetachLoop(*device), "detach");
  return rows;
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint64_t> steps = {1000, 10000, 100000, 1000000};
  std::vector<std::string> backends = {"btrfs", "xfs"};
  int clones = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--writes") {
      steps.clear();
      for (const auto& s : Split(argv[i + 1])) steps.push_back(std::stoull(s));
    } else if (flag == "--clones") {
      clones = std::stoi(argv[i + 1]);
    } else if (flag == "--backends") {
      backends = Split(argv[i + 1]);
    }
  }
  if (geteuid() != 0) {
    std::cerr << "extent_bench needs root (loop devices and mounts)\n";
    return 1;
  }
  spdlog::set_level(spdlog::level::err);
  ditto::host::LinuxHost host;
  std::vector<Row> rows;
  for (const auto& backend : backends) {
    auto measured = Measure(host, backend, steps, clones);
    rows.insert(rows.end(), measured.begin(), measured.end());
  }
  std::cout << "| random 4 KiB writes | backend | extents in the image | clone p50 | clone max | "
               "longest writer pause | crash-consistent clone p50 | its longest writer pause "
               "|\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& row : rows) {
    auto failures = [&](int failed) {
      return failed > 0 ? fmt::format(" ({} of {} failed: frozen past the limit)", failed, clones)
                        : std::string();
    };
    std::cout << fmt::format("| {} | {} | {} | {:.1f} ms{} | {:.1f} ms | {:.1f} ms | {:.1f} ms{} | "
                             "{:.1f} ms |\n",
                             row.writes, row.backend, row.extents, row.clone_p50_ms,
                             failures(row.failed), row.clone_max_ms, row.pause_ms,
                             row.crash_p50_ms, failures(row.crash_failed), row.crash_pause_ms);
  }
  std::cout << "\nThe steps of one filesystem-consistent clone under the writer (median over "
               "the clones at each point, ms):\n\n| backend | random 4 KiB writes | extents |";
  std::vector<std::string> step_names;
  for (const auto& row : rows) {
    for (const auto& [step, ms] : row.steps) {
      if (std::find(step_names.begin(), step_names.end(), step) == step_names.end()) {
        step_names.push_back(step);
      }
    }
  }
  std::sort(step_names.begin(), step_names.end());
  for (const auto& step : step_names) std::cout << " " << step.substr(2) << " |";
  std::cout << " clone p50 |\n|---|---|---|";
  for (size_t i = 0; i <= step_names.size(); ++i) std::cout << "---|";
  std::cout << "\n";
  for (const auto& row : rows) {
    std::cout << fmt::format("| {} | {} | {} |", row.backend, row.writes, row.extents);
    for (const auto& step : step_names) {
      auto it = row.steps.find(step);
      std::cout << (it == row.steps.end() ? std::string(" - |")
                                          : fmt::format(" {:.1f} |", it->second));
    }
    std::cout << fmt::format(" {:.1f} |\n", row.clone_p50_ms);
  }
  std::cout << "\nFIFREEZE of the volume after each way of flushing it first (median of 5, "
               "the writer running, ms):\n\n| backend | random 4 KiB writes | extents |";
  if (!rows.empty()) {
    for (const auto& trial : rows.front().freezes) std::cout << " " << trial.before << " |";
    std::cout << "\n|---|---|---|";
    for (size_t i = 0; i < rows.front().freezes.size(); ++i) std::cout << "---|";
    std::cout << "\n";
  }
  for (const auto& row : rows) {
    std::cout << fmt::format("| {} | {} | {} |", row.backend, row.writes, row.extents);
    for (const auto& trial : row.freezes) std::cout << fmt::format(" {:.1f} |", trial.freeze_ms);
    std::cout << "\n";
  }
  // Side by side at each step: how much faster the btrfs clone is.
  for (const auto& a : rows) {
    if (a.backend != "btrfs") continue;
    for (const auto& b : rows) {
      if (b.backend == "xfs" && b.writes == a.writes) {
        std::cout << fmt::format("after {} writes: xfs / btrfs clone p50 = {:.1f}x\n", a.writes,
                                 b.clone_p50_ms / a.clone_p50_ms);
      }
    }
  }
  return 0;
}
