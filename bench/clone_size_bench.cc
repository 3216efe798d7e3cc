// Clone cost against volume size, for each pool backend: a pool clone of a
// volume with 64 MiB and with N GiB of written data, each against
// `cp --reflink=always` of the same image (the floor) in the same run.
// Prints medians and ratios.
//
//   clone_size_bench [--large-gib N] [--repeats N] [--backends btrfs,xfs]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <random>
#include <sstream>

#include "fmt/format.h"
#include "host/linux_host.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"
#include "support/loop_filesystem.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kMiB = 1ull << 20;

double Median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

void Check(const ditto::Status& status, const char* what) {
  if (!status.ok()) {
    std::cerr << what << ": " << status.message() << "\n";
    std::exit(1);
  }
}

// Fills the image with pseudo-random data, 16 MiB at a time.
void FillImage(ditto::host::Host& host, const std::string& path, uint64_t bytes) {
  std::mt19937_64 rng(42);
  std::string chunk(16 * kMiB, '\0');
  for (uint64_t offset = 0; offset < bytes; offset += chunk.size()) {
    for (size_t i = 0; i < chunk.size(); i += 8) {
      uint64_t value = rng();
      std::memcpy(&chunk[i], &value, 8);
    }
    Check(host.WriteAt(path, offset, chunk.substr(0, std::min<uint64_t>(chunk.size(), bytes - offset))),
          "write");
  }
}

struct Result {
  double ditto_ms;
  double floor_ms;
};

Result Measure(ditto::pool::Pool& pool, ditto::host::Host& host, const std::string& source_id,
               const std::string& scratch, int repeats, const std::string& label) {
  std::vector<double> ditto_ms, floor_ms;
  for (int i = -1; i < repeats; ++i) {  // i == -1: warm-up, not counted
    auto start = Clock::now();
    auto clone = pool.CreateVolume({.name = fmt::format("{}-clone-{}", label, i + 1),
                                    .source_kind = ditto::pool::SourceKind::kVolume,
                                    .source_id = source_id});
    double ditto_elapsed = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    Check(clone.status(), "clone");
    Check(pool.DeleteVolume(clone->volume.id), "delete");

    std::string copy = fmt::format("{}/{}-cp-{}.img", scratch, label, i + 1);
    start = Clock::now();
    auto cp = host.Run({"cp", "--reflink=always", pool.VolumePath(source_id), copy});
    double floor_elapsed = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (i >= 0) {
      ditto_ms.push_back(ditto_elapsed);
      floor_ms.push_back(floor_elapsed);
    }
    Check(cp.status(), "cp");
    if (cp->exit_code != 0) {
      std::cerr << "cp --reflink=always failed: " << cp->stderr_text;
      std::exit(1);
    }
    Check(host.Remove(copy), "remove copy");
    Check(host.Run({"sync"}).status(), "sync");
  }
  return {Median(ditto_ms), Median(floor_ms)};
}

// One backend: its own loop-mounted filesystem, pool, sources and clones.
void RunBackend(ditto::host::LinuxHost& host, const std::string& backend, uint64_t large_gib,
                int repeats) {
  auto fs = ditto::test::LoopFilesystem::Create(backend == "btrfs" ? "btrfs" : "xfs",
                                                (2 * large_gib + 3) << 30);
  Check(fs.status(), "loop filesystem");
  std::string dir = (*fs)->mount_point() + "/pool";
  ditto::pool::InitOptions options{.backing = ditto::pool::Backing::kNever};
  options.backend =
      backend == "btrfs" ? ditto::pool::BackendChoice::kBtrfs : ditto::pool::BackendChoice::kXfs;
  auto pool = ditto::pool::Pool::Init(host, dir, options);
  Check(pool.status(), "pool init");
  std::string scratch = (*fs)->mount_point() + "/scratch";
  Check(host.MakeDirectories(scratch, 0700), "scratch");

  struct Size {
    std::string label;
    uint64_t bytes;
  };
  std::vector<Size> sizes = {{"64MiB", 64 * kMiB}, {fmt::format("{}GiB", large_gib), large_gib << 30}};
  std::vector<Result> results;
  for (const auto& size : sizes) {
    std::cerr << fmt::format("{}: writing a {} source volume...\n", backend, size.label);
    auto source = (*pool)->CreateVolume({.name = "source-" + size.label, .capacity_bytes = size.bytes});
    Check(source.status(), "create source");
    FillImage(host, (*pool)->VolumePath(source->volume.id), size.bytes);
    Check(host.SyncFile((*pool)->VolumePath(source->volume.id)), "sync");
    // Flush everything, down to the loop device's backing file, so neither side
    // of the comparison pays for writing back the data just written.
    Check(host.Run({"sync"}).status(), "sync");
    auto space = (*pool)->VolumeSpace(source->volume.id);
    Check(space.status(), "space");
    results.push_back(Measure(**pool, host, source->volume.id, scratch, repeats, size.label));
    std::cout << fmt::format(
        "{:>6} {:>8} written ({} extents): ditto clone {:.2f} ms, cp --reflink=always {:.2f} ms, "
        "ratio {:.2f}\n",
        backend, size.label, space->extent_count, results.back().ditto_ms,
        results.back().floor_ms, results.back().ditto_ms / results.back().floor_ms);
  }
  std::cout << fmt::format("{}: clone time {} / {}: {:.2f} (1.00 = size does not matter)\n",
                           backend, sizes[1].label, sizes[0].label,
                           results[1].ditto_ms / results[0].ditto_ms);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t large_gib = 4;
  int repeats = 9;
  std::vector<std::string> backends = {"btrfs", "xfs"};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--large-gib") large_gib = std::stoull(argv[i + 1]);
    if (std::string(argv[i]) == "--repeats") repeats = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--backends") {
      backends.clear();
      std::stringstream in(argv[i + 1]);
      for (std::string item; std::getline(in, item, ',');) backends.push_back(item);
    }
  }
  if (geteuid() != 0) {
    std::cerr << "clone_size_bench needs root (it loop-mounts btrfs and XFS filesystems)\n";
    return 1;
  }
  spdlog::set_level(spdlog::level::warn);  // the pool logs every operation at info
  ditto::host::LinuxHost host;
  for (const auto& backend : backends) RunBackend(host, backend, large_gib, repeats);
  return 0;
}
