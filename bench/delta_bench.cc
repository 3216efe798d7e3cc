// Changed-block metadata speed: the delta of two snapshots of a 16 GiB volume
// with 1 % of it rewritten between them, in scattered 4 KiB blocks (the worst
// case for extent maps), as GetMetadataDelta computes it (FIEMAP of both
// snapshot images + ChangedRanges). Target: at most 1 s. Also checks the
// result against the blocks written. As root, on a loop-mounted XFS or btrfs.
//
//   delta_bench [--fs xfs|btrfs] [--volume-gib N] [--changed-percent P] [--written-gib N]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <random>
#include <set>
#include <string>

#include "fmt/format.h"
#include "host/linux_host.h"
#include "pool/changed_blocks.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"
#include "support/loop_filesystem.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kBlock = 4096;

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "delta_bench: " << message << "\n";
  std::exit(1);
}
void Check(const ditto::Status& status, const std::string& what) {
  if (!status.ok()) Die(what + ": " + std::string(status.message()));
}
double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string fs_type = "xfs";
  uint64_t volume_gib = 16;
  double changed_percent = 1.0;
  uint64_t written_gib = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--fs") fs_type = value;
    else if (flag == "--volume-gib") volume_gib = std::stoull(value);
    else if (flag == "--changed-percent") changed_percent = std::stod(value);
    else if (flag == "--written-gib") written_gib = std::stoull(value);
    else Die("unknown flag " + flag + " (use --fs, --volume-gib, --changed-percent, --written-gib)");
  }
  if (geteuid() != 0) Die("needs root (loop devices, mounts)");
  spdlog::set_level(spdlog::level::warn);
  const uint64_t volume_bytes = volume_gib * kGiB;
  const uint64_t changed_blocks =
      static_cast<uint64_t>(static_cast<double>(volume_bytes / kBlock) * changed_percent / 100.0);
  // Room for the written data twice over and the changed blocks.
  const uint64_t fs_bytes = 2 * written_gib * kGiB + changed_blocks * kBlock + 2 * kGiB;

  auto fs = ditto::test::LoopFilesystem::Create(fs_type, fs_bytes);
  if (!fs.ok()) Die("cannot make a loop-mounted " + fs_type + ": " + std::string(fs.status().message()));
  ditto::host::LinuxHost host;
  ditto::pool::InitOptions options;
  options.backing = ditto::pool::Backing::kNever;
  auto pool = ditto::pool::Pool::Init(host, (*fs)->mount_point() + "/pool", options);
  if (!pool.ok()) Die("pool init: " + std::string(pool.status().message()));
  auto volume = (*pool)->CreateVolume({.name = "bench", .capacity_bytes = volume_bytes});
  if (!volume.ok()) Die("create: " + std::string(volume.status().message()));
  const std::string image = (*pool)->VolumePath(volume->volume.id);

  std::mt19937_64 rng(7);
  std::string chunk(16 * kMiB, '\0');
  for (uint64_t offset = 0; offset < written_gib * kGiB; offset += chunk.size()) {
    for (size_t i = 0; i < chunk.size(); i += 8) {
      uint64_t value = rng();
      std::memcpy(&chunk[i], &value, 8);
    }
    Check(host.WriteAt(image, offset, chunk), "write base data");
  }
  auto base = (*pool)->CreateSnapshot("base", volume->volume.id);
  if (!base.ok()) Die("snapshot: " + std::string(base.status().message()));

  std::set<uint64_t> blocks;
  while (blocks.size() < changed_blocks) blocks.insert(rng() % (volume_bytes / kBlock));
  std::string block(kBlock, 'x');
  auto write_start = Clock::now();
  {
    // One descriptor for all the scattered writes; one fsync at the end.
    int fd = ::open(image.c_str(), O_WRONLY);
    if (fd < 0) Die("open " + image);
    for (uint64_t b : blocks) {
      std::memcpy(block.data(), &b, sizeof(b));
      if (::pwrite(fd, block.data(), kBlock, static_cast<off_t>(b * kBlock)) != kBlock) {
        Die("pwrite");
      }
    }
    if (::fsync(fd) != 0) Die("fsync");
    ::close(fd);
  }
  double write_ms = MillisSince(write_start);
  auto target = (*pool)->CreateSnapshot("target", volume->volume.id);
  if (!target.ok()) Die("snapshot: " + std::string(target.status().message()));

  std::vector<double> runs;
  std::vector<ditto::pool::ByteRange> delta;
  size_t base_extents = 0, target_extents = 0;
  for (int i = 0; i < 5; ++i) {
    auto start = Clock::now();
    auto a = host.Extents((*pool)->SnapshotPath(base->snapshot.id));
    auto b = host.Extents((*pool)->SnapshotPath(target->snapshot.id));
    if (!a.ok() || !b.ok()) Die("FIEMAP failed");
    delta = ditto::pool::ChangedRanges(*a, *b, volume_bytes);
    runs.push_back(MillisSince(start));
    base_extents = a->size();
    target_extents = b->size();
  }
  std::sort(runs.begin(), runs.end());

  std::set<uint64_t> reported;
  for (const auto& range : delta) {
    for (uint64_t at = range.offset; at < range.offset + range.length; at += kBlock) {
      reported.insert(at / kBlock);
    }
  }
  uint64_t missed = 0;
  for (uint64_t b : blocks) missed += reported.count(b) == 0;
  uint64_t extra = reported.size() - (blocks.size() - missed);

  std::cout << fmt::format(
      "delta of two snapshots of a {} GiB volume on {} ({} GiB written, {} scattered 4 KiB "
      "blocks = {:.2f} % rewritten in {:.0f} ms)\n"
      "  extents: base {}, target {}; delta: {} ranges\n"
      "  time (FIEMAP both + compare): median {:.1f} ms, min {:.1f} ms, max {:.1f} ms "
      "(target <= 1000 ms): {}\n"
      "  changed blocks missed: {}; unchanged blocks reported: {}\n",
      volume_gib, fs_type, written_gib, blocks.size(), changed_percent, write_ms, base_extents,
      target_extents, delta.size(), runs[runs.size() / 2], runs.front(), runs.back(),
      runs[runs.size() / 2] <= 1000 ? "met" : "MISSED", missed, extra);
  return missed == 0 ? 0 : 1;
}
