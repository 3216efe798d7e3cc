// Clone cost against the source's fragmentation, for both pool backends in
// one run: a mounted volume (ext4 on a direct-I/O loop device over its image,
// the way dittod stages it) is rewritten at random in 4 KiB blocks by fio
// after a snapshot shared its blocks, which splits the image into ever more
// extents. At each step the volume is cloned while a writer inside it writes
// and fdatasyncs 4 KiB at a time; the bench prints the clone latency (the
// pool's CreateVolume, freeze included) and the writer's longest pause, then
// cloned as often again with consistency "crash" (no freeze).
//
//   extent_bench [--writes 1000,10000,100000,1000000] [--clones N] [--backends btrfs,xfs]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "fmt/format.h"
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
  auto pool = ditto::pool::Pool::Init(host, dir, options);
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
      Writer writer(mnt + "/writer");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      for (int i = 0; i < clones; ++i) {
        auto start = Clock::now();
        auto clone = (*pool)->CreateVolume({.name = fmt::format("clone-{}-{}-{}", tag, target, i),
                                            .source_kind = ditto::pool::SourceKind::kVolume,
                                            .source_id = id,
                                            .consistency = consistency});
        times.push_back(Ms(Clock::now() - start));
        Check(clone.status(), "clone");
        Check((*pool)->DeleteVolume(clone->volume.id), "delete clone");
      }
      double pause = writer.Stop();
      return std::make_pair(times, pause);
    };
    auto [times, pause] = clone_under_writer(ditto::pool::Consistency::kFilesystem, "fs");
    auto [crash_times, crash_pause] = clone_under_writer(ditto::pool::Consistency::kCrash, "crash");
    rows.push_back({backend, written, extents->size(), Median(times),
                    *std::max_element(times.begin(), times.end()), pause, Median(crash_times),
                    crash_pause});
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
    std::cout << fmt::format("| {} | {} | {} | {:.1f} ms | {:.1f} ms | {:.1f} ms | {:.1f} ms | "
                             "{:.1f} ms |\n",
                             row.writes, row.backend, row.extents, row.clone_p50_ms,
                             row.clone_max_ms, row.pause_ms, row.crash_p50_ms,
                             row.crash_pause_ms);
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
