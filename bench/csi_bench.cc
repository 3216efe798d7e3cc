// ditto's benchmark suite over the real daemon: dittod is started as a child
// process on a pool in a loop-mounted XFS filesystem that this program
// creates (sparse, sized for the largest case) and removes, and driven over
// gRPC on its unix socket. Every measurement is set against a baseline taken
// in the same run on the same filesystem, and printed as a ratio.
//
//   csi_bench [--dittod PATH] [--dittoctl PATH] [--out DIR] [--only LIST]
//             [--sizes 64Mi,1Gi,4Gi,16Gi] [--repeats N] [--quick]
//
// Sections (--only takes their names, comma separated):
//   clone       1. clone latency vs size: ditto vs raw FICLONE vs full copy
//   snapshot    2. snapshot and restore latency vs size
//   throughput  3. CreateVolume+DeleteVolume with 1, 4, 16 concurrent clients
//   space       4. pool bytes used by 100 clones of a 1 GiB written volume
//   io          5. fio inside a staged+published clone vs a file in the pool fs
//   e2e         6. `dittoctl apply` of a clone PVC of a 4 GiB source until Bound
//   frag        7. extents and clone time after 1k/10k/100k random 4 KiB writes
//
// stdout is a Markdown report; stderr shows progress. Data files for plots
// (clone_latency.dat) are written to --out. Needs root (loop devices, mounts).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "bench/csi_client.h"
#include "bench/dittod_process.h"
#include "fmt/format.h"
#include "support/pool_paths.h"
#include "nlohmann/json.hpp"
#include "support/loop_filesystem.h"

#ifndef DITTO_BENCH_DITTOD
#define DITTO_BENCH_DITTOD ""
#endif
#ifndef DITTO_BENCH_DITTOCTL
#define DITTO_BENCH_DITTOCTL ""
#endif

namespace ditto::bench {
namespace {

struct Options {
  std::string dittod = DITTO_BENCH_DITTOD;
  std::string dittoctl = DITTO_BENCH_DITTOCTL;
  std::string out = ".";
  std::set<std::string> only;
  std::vector<uint64_t> sizes = {64 * kMiB, 1 * kGiB, 4 * kGiB, 16 * kGiB};
  int repeats = 20;          // clone / snapshot samples per size
  int copy_repeats = 0;      // 0: by size (5 up to 1 GiB, 3 at 4 GiB, 2 above)
  int throughput_seconds = 10;
  std::vector<int> clients = {1, 4, 16};
  int space_clones = 100;
  uint64_t space_source = 1 * kGiB;
  int fio_seconds = 15;
  uint64_t fio_file = 1 * kGiB;
  uint64_t e2e_source = 4 * kGiB;
  uint64_t frag_source = 1 * kGiB;
  std::vector<uint64_t> frag_writes = {1000, 10000, 100000};
  int frag_repeats = 5;
};

bool Wanted(const Options& options, const std::string& section) {
  return options.only.empty() || options.only.count(section) > 0;
}

std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--dittod") options.dittod = value();
    else if (flag == "--dittoctl") options.dittoctl = value();
    else if (flag == "--out") options.out = value();
    else if (flag == "--only") for (auto& s : SplitComma(value())) options.only.insert(s);
    else if (flag == "--sizes") {
      options.sizes.clear();
      for (auto& s : SplitComma(value())) options.sizes.push_back(ParseSize(s));
    } else if (flag == "--repeats") options.repeats = std::stoi(value());
    else if (flag == "--copy-repeats") options.copy_repeats = std::stoi(value());
    else if (flag == "--throughput-seconds") options.throughput_seconds = std::stoi(value());
    else if (flag == "--fio-seconds") options.fio_seconds = std::stoi(value());
    else if (flag == "--quick") {
      // A smoke run of every section in about a minute: small sizes, few samples.
      options.sizes = {64 * kMiB, 256 * kMiB};
      options.repeats = 5;
      options.copy_repeats = 2;
      options.throughput_seconds = 2;
      options.space_clones = 20;
      options.space_source = 256 * kMiB;
      options.fio_seconds = 2;
      options.fio_file = 128 * kMiB;
      options.e2e_source = 256 * kMiB;
      options.frag_source = 256 * kMiB;
      options.frag_writes = {100, 1000};
      options.frag_repeats = 2;
    } else if (flag == "--help" || flag == "-h") {
      std::cout << "usage: csi_bench [--dittod PATH] [--dittoctl PATH] [--out DIR] [--only "
                   "clone,snapshot,throughput,space,io,e2e,frag] [--sizes 64Mi,1Gi,4Gi,16Gi] "
                   "[--repeats N] [--copy-repeats N] [--throughput-seconds N] [--fio-seconds N] "
                   "[--quick]\n";
      std::exit(0);
    } else {
      Die(fmt::format("unknown flag {}; see --help", flag));
    }
  }
  static const std::set<std::string> kSections = {"clone", "snapshot", "throughput", "space",
                                                  "io",    "e2e",      "frag"};
  for (const auto& s : options.only) {
    if (!kSections.count(s)) Die(fmt::format("unknown section '{}' in --only", s));
  }
  if (options.sizes.empty() || options.repeats < 1) Die("--sizes and --repeats must be non-empty");
  return options;
}

// Everything a section needs: the daemon, a client, and where things are.
struct Bench {
  Options options;
  std::string root;       // the loop filesystem's mount point
  std::string pool_dir;   // the pool (on the loop filesystem, which reflinks)
  std::string scratch;    // baseline files, on the same filesystem
  std::string node_dir;   // staging and target paths
  std::unique_ptr<DittodProcess> daemon;
  std::unique_ptr<CsiClient> client;
  int counter = 0;

  std::string Name(const std::string& prefix) { return fmt::format("{}-{}", prefix, ++counter); }
  std::string ImagePath(const std::string& volume_id) const {
    std::string image = test::FindVolumeImage(pool_dir, volume_id);
    if (image.empty()) {
      Die(fmt::format("cannot find the image of volume {} under {}", volume_id, pool_dir));
    }
    return image;
  }
  std::string ScratchFile(const std::string& name) { return fmt::format("{}/{}", scratch, Name(name)); }
  // A volume of `bytes` fully written with random data, flushed to disk.
  std::string WrittenVolume(const std::string& name, uint64_t bytes) {
    Progress(fmt::format("writing a {} source volume with random data...", SizeLabel(bytes)));
    std::string id = client->CreateVolume(Name(name), bytes);
    FillFile(ImagePath(id), bytes, 0x5eed + counter);
    return id;
  }
};

std::string Ms(double ms) { return ms >= 100 ? fmt::format("{:.0f}", ms) : fmt::format("{:.2f}", ms); }
std::string Ratio(double a, double b) { return b > 0 ? fmt::format("{:.2f}x", a / b) : "n/a"; }

int CopyRepeats(const Options& options, uint64_t size) {
  if (options.copy_repeats > 0) return options.copy_repeats;
  return size <= kGiB ? 5 : size <= 4 * kGiB ? 3 : 2;
}

// ---- 1 and 2: clone, snapshot and restore latency against size ----

struct SizeResult {
  uint64_t size = 0;
  uint64_t extents = 0;
  Summary ditto, floor, floor_sync, protocol, copy, snapshot, restore, rpc;
};

SizeResult MeasureSize(Bench& b, uint64_t size, bool clone, bool snapshot) {
  SizeResult result;
  result.size = size;
  std::string label = SizeLabel(size);
  std::string source = b.WrittenVolume("source-" + label, size);
  std::string source_image = b.ImagePath(source);
  result.extents = ExtentCount(source_image);
  std::vector<double> ditto, floor, floor_sync, protocol, copy, snap, restore, rpc;
  int repeats = b.options.repeats;
  if (clone) {
    Progress(fmt::format("{}: {} ditto clones, raw FICLONE and FICLONE+fsync each (+1 warm-up)",
                         label, repeats));
    for (int i = -1; i < repeats; ++i) {
      auto start = Clock::now();
      std::string id = b.client->CreateVolume(b.Name("clone-" + label), 0, Source::kVolume, source);
      double ditto_ms = MillisSince(start);
      b.client->DeleteVolume(id);
      SyncAll();

      std::string raw = b.ScratchFile("raw");
      start = Clock::now();
      RawClone(source_image, raw);
      double floor_ms = MillisSince(start);
      RemoveFile(raw);
      SyncAll();

      start = Clock::now();
      RawCloneSync(source_image, raw);
      double floor_sync_ms = MillisSince(start);
      RemoveFile(raw);
      SyncAll();

      std::string published = b.ScratchFile("published");
      start = Clock::now();
      RawClonePublish(source_image, raw, published);
      double protocol_ms = MillisSince(start);
      RemoveFile(published);
      SyncAll();

      start = Clock::now();
      b.client->ControllerGetCapabilities();
      double rpc_ms = MillisSince(start);
      if (i >= 0) {
        rpc.push_back(rpc_ms);
        ditto.push_back(ditto_ms);
        floor.push_back(floor_ms);
        floor_sync.push_back(floor_sync_ms);
        protocol.push_back(protocol_ms);
      }
    }
    int copies = CopyRepeats(b.options, size);
    for (int i = 0; i < copies; ++i) {
      Progress(fmt::format("{}: full copy {}/{}...", label, i + 1, copies));
      std::string copied = b.ScratchFile("copy");
      auto start = Clock::now();
      FullCopy(source_image, copied);
      copy.push_back(MillisSince(start));
      RemoveFile(copied);
      SyncAll();
    }
  }
  if (snapshot) {
    Progress(fmt::format("{}: {} snapshots and restores (+1 warm-up)", label, repeats));
    for (int i = -1; i < repeats; ++i) {
      auto start = Clock::now();
      std::string snap_id = b.client->CreateSnapshot(b.Name("snap-" + label), source);
      double snap_ms = MillisSince(start);
      SyncAll();
      start = Clock::now();
      std::string restored =
          b.client->CreateVolume(b.Name("restore-" + label), 0, Source::kSnapshot, snap_id);
      double restore_ms = MillisSince(start);
      b.client->DeleteVolume(restored);
      b.client->DeleteSnapshot(snap_id);
      SyncAll();
      if (!clone) {  // the floor is needed for the ratios either way
        std::string raw = b.ScratchFile("raw");
        start = Clock::now();
        RawClone(source_image, raw);
        double floor_ms = MillisSince(start);
        RemoveFile(raw);
        SyncAll();
        if (i >= 0) floor.push_back(floor_ms);
      }
      if (i >= 0) {
        snap.push_back(snap_ms);
        restore.push_back(restore_ms);
      }
    }
  }
  b.client->DeleteVolume(source);
  SyncAll();
  result.ditto = Summarize(ditto);
  result.floor = Summarize(floor);
  result.floor_sync = Summarize(floor_sync);
  result.protocol = Summarize(protocol);
  result.copy = Summarize(copy);
  result.snapshot = Summarize(snap);
  result.restore = Summarize(restore);
  result.rpc = Summarize(rpc);
  return result;
}

void CloneAndSnapshot(Bench& b) {
  bool clone = Wanted(b.options, "clone"), snapshot = Wanted(b.options, "snapshot");
  std::vector<SizeResult> results;
  for (uint64_t size : b.options.sizes) results.push_back(MeasureSize(b, size, clone, snapshot));

  if (clone) {
    std::cout << "\n## 1. Clone latency vs source size\n\n"
              << "CreateVolume with a volume content source over CSI (gRPC on the unix socket), "
                 "against raw `FICLONE` of the same image (the floor), `FICLONE` + `fsync`, and a "
                 "full sparse-aware copy (pread/pwrite of every data range + fsync). Milliseconds; "
              << b.options.repeats << " samples per size after one warm-up (copies: 5/5/3/2).\n\n"
              << "| source | extents | ditto p50 | ditto p90 | FICLONE p50 | FICLONE p90 | "
                 "FICLONE+fsync p50 | crash-safe file protocol p50 | no-op RPC p50 | full copy p50 "
                 "| full copy p90 | ditto/floor p50 | ditto/floor p90 | ditto/FICLONE+fsync p50 | "
                 "copy/ditto p50 |\n"
              << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : results) {
      std::cout << fmt::format(
          "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
          SizeLabel(r.size), r.extents, Ms(r.ditto.p50), Ms(r.ditto.p90), Ms(r.floor.p50),
          Ms(r.floor.p90), Ms(r.floor_sync.p50), Ms(r.protocol.p50), Ms(r.rpc.p50),
          Ms(r.copy.p50), Ms(r.copy.p90), Ratio(r.ditto.p50, r.floor.p50),
          Ratio(r.ditto.p90, r.floor.p90), Ratio(r.ditto.p50, r.floor_sync.p50),
          Ratio(r.copy.p50, r.ditto.p50));
    }
    std::cout << "\nThe crash-safe file protocol is what the pool does to the file system "
                 "without its catalog: FICLONE into a temporary name, fsync, rename, fsync the "
                 "directory. A no-op RPC (ControllerGetCapabilities) is what any call over the "
                 "socket costs before it does anything.\n";
    if (results.size() >= 2) {
      const auto& small = results.front();
      const auto& large = results.back();
      std::cout << fmt::format(
          "\nditto clone {} / {}: p50 {:.2f}, p90 {:.2f} (1.00 = size does not matter; target "
          "<= 2). Raw FICLONE: p50 {:.2f}. Full copy: p50 {:.0f}.\n",
          SizeLabel(large.size), SizeLabel(small.size), large.ditto.p50 / small.ditto.p50,
          large.ditto.p90 / small.ditto.p90, large.floor.p50 / small.floor.p50,
          large.copy.p50 / small.copy.p50);
    }
    std::ofstream dat(b.options.out + "/clone_latency.dat");
    dat << "# size_mib ditto_p50 ditto_p90 floor_p50 floor_p90 floor_sync_p50 copy_p50 copy_p90 "
           "protocol_p50 label\n";
    for (const auto& r : results) {
      dat << fmt::format("{} {:.4f} {:.4f} {:.4f} {:.4f} {:.4f} {:.4f} {:.4f} {:.4f} {}\n",
                         r.size / kMiB, r.ditto.p50, r.ditto.p90, r.floor.p50, r.floor.p90,
                         r.floor_sync.p50, r.copy.p50, r.copy.p90, r.protocol.p50,
                         SizeLabel(r.size));
    }
  }
  if (snapshot) {
    std::cout << "\n## 2. Snapshot and restore latency vs source size\n\n"
              << "CreateSnapshot of the written volume, then CreateVolume from that snapshot "
                 "(restore), over CSI. Milliseconds; ratios against the raw FICLONE floor of the "
                 "same size.\n\n"
              << "| source | snapshot p50 | snapshot p90 | restore p50 | restore p90 | "
                 "snapshot/floor p50 | restore/floor p50 |\n"
              << "|---|---|---|---|---|---|---|\n";
    for (const auto& r : results) {
      std::cout << fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", SizeLabel(r.size),
                               Ms(r.snapshot.p50), Ms(r.snapshot.p90), Ms(r.restore.p50),
                               Ms(r.restore.p90), Ratio(r.snapshot.p50, r.floor.p50),
                               Ratio(r.restore.p50, r.floor.p50));
    }
  }
  std::cout << std::flush;
}

// ---- 3: control-path throughput ----

void Throughput(Bench& b) {
  std::cout << "\n## 3. Control-path throughput\n\n"
            << "Each client (its own gRPC connection) loops CreateVolume (empty 1 GiB mount "
               "volume) + DeleteVolume for "
            << b.options.throughput_seconds
            << " s. A \"create\" below is one completed create+delete pair. Latencies in ms.\n\n"
            << "| clients | creates/s | RPCs/s | create p50 | create p99 | delete p50 | delete p99 "
               "|\n|---|---|---|---|---|---|---|\n";
  for (int clients : b.options.clients) {
    Progress(fmt::format("throughput: {} client(s) for {} s", clients, b.options.throughput_seconds));
    std::mutex mutex;
    std::vector<double> creates, deletes;
    std::atomic<uint64_t> pairs{0};
    auto start = Clock::now();
    auto deadline = start + std::chrono::seconds(b.options.throughput_seconds);
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&, t] {
        CsiClient client(b.daemon->NewChannel());
        std::vector<double> my_creates, my_deletes;
        for (int i = 0; Clock::now() < deadline; ++i) {
          auto op = Clock::now();
          std::string id = client.CreateVolume(fmt::format("tp-{}-{}-{}", clients, t, i), kGiB);
          my_creates.push_back(MillisSince(op));
          op = Clock::now();
          client.DeleteVolume(id);
          my_deletes.push_back(MillisSince(op));
          ++pairs;
        }
        std::lock_guard lock(mutex);
        creates.insert(creates.end(), my_creates.begin(), my_creates.end());
        deletes.insert(deletes.end(), my_deletes.begin(), my_deletes.end());
      });
    }
    for (auto& thread : threads) thread.join();
    double seconds = MillisSince(start) / 1000;
    Summary c = Summarize(creates), d = Summarize(deletes);
    std::cout << fmt::format("| {} | {:.0f} | {:.0f} | {} | {} | {} | {} |\n", clients,
                             pairs / seconds, 2 * pairs / seconds, Ms(c.p50), Ms(c.p99), Ms(d.p50),
                             Ms(d.p99))
              << std::flush;
  }
}

// ---- 4: space ----

void Space(Bench& b) {
  std::string source = b.WrittenVolume("space-source", b.options.space_source);
  SyncAll();
  uint64_t before = FilesystemUsedBytes(b.pool_dir);
  Progress(fmt::format("space: {} clones of the {} volume", b.options.space_clones,
                       SizeLabel(b.options.space_source)));
  std::vector<std::string> clones;
  for (int i = 0; i < b.options.space_clones; ++i) {
    clones.push_back(b.client->CreateVolume(b.Name("space-clone"), 0, Source::kVolume, source));
  }
  SyncAll();
  uint64_t after = FilesystemUsedBytes(b.pool_dir);
  double per_clone = static_cast<double>(after - before) / b.options.space_clones;
  std::cout << "\n## 4. Space\n\n"
            << fmt::format(
                   "Pool filesystem bytes in use (statfs, after sync; includes the catalog) "
                   "before and after {} clones of a {} fully written volume.\n\n"
                   "| before | after | per clone | per clone / source size |\n|---|---|---|---|\n"
                   "| {:.1f} MiB | {:.1f} MiB | {:.1f} KiB | {:.5f}% |\n",
                   b.options.space_clones, SizeLabel(b.options.space_source),
                   static_cast<double>(before) / kMiB, static_cast<double>(after) / kMiB,
                   per_clone / kKiB, 100.0 * per_clone / static_cast<double>(b.options.space_source))
            << std::flush;
  for (const auto& id : clones) b.client->DeleteVolume(id);
  b.client->DeleteVolume(source);
  SyncAll();
}

// ---- 5: I/O inside a clone ----

struct FioResult {
  double iops = 0;
  double mib_per_s = 0;
};

FioResult RunFio(const std::string& file, const std::string& rw, const std::string& bs, int depth,
                 const Options& options) {
  std::string out = RunTool({"fio", "--name=bench", "--filename=" + file, "--rw=" + rw, "--bs=" + bs,
                             "--iodepth=" + std::to_string(depth), "--ioengine=libaio", "--direct=1",
                             fmt::format("--size={}", options.fio_file),
                             fmt::format("--runtime={}", options.fio_seconds), "--time_based",
                             "--norandommap", "--randrepeat=0", "--output-format=json"});
  auto json = nlohmann::json::parse(out.substr(out.find('{')));
  const auto& job = json["jobs"][0];
  const auto& side = (rw.find("write") != std::string::npos) ? job["write"] : job["read"];
  return {side["iops"].get<double>(), side["bw"].get<double>() / 1024.0};
}

// A volume staged (ext4 on a loop device) and published over CSI, with a
// laid-out fio file; unpublished, unstaged and deleted when it goes.
class MountedVolume {
 public:
  MountedVolume(Bench& b, const std::string& id, const std::string& label)
      : b_(b), id_(id), stage_(b.node_dir + "/stage-" + label), target_(b.node_dir + "/pub-" + label) {
    b_.client->NodeStage(id_, stage_);
    b_.client->NodePublish(id_, stage_, target_);
  }
  ~MountedVolume() {
    b_.client->NodeUnpublish(id_, target_);
    b_.client->NodeUnstage(id_, stage_);
    b_.client->DeleteVolume(id_);
  }
  std::string file() const { return target_ + "/fio.dat"; }
  const std::string& id() const { return id_; }

 private:
  Bench& b_;
  std::string id_, stage_, target_;
};

void LayOutFioFile(const std::string& path, uint64_t bytes) {
  RunTool({"fio", "--name=layout", "--filename=" + path, "--rw=write", "--bs=1M",
           "--ioengine=libaio", "--direct=1", "--iodepth=4", fmt::format("--size={}", bytes)});
}

void Io(Bench& b) {
  const Options& o = b.options;
  uint64_t capacity = o.fio_file * 2 + kGiB;
  // The clone source: its fio file written, then never staged again, so that
  // every job gets a fresh clone whose blocks are all still shared.
  Progress("io: source volume with the fio file laid out");
  std::string source = b.client->CreateVolume(b.Name("fio-source"), capacity);
  {
    std::string stage = b.node_dir + "/stage-fio-source", target = b.node_dir + "/pub-fio-source";
    b.client->NodeStage(source, stage);
    b.client->NodePublish(source, stage, target);
    LayOutFioFile(target + "/fio.dat", o.fio_file);
    b.client->NodeUnpublish(source, target);
    b.client->NodeUnstage(source, stage);
  }
  // The same stack (ext4, loop device, image file) without sharing: a volume
  // that is never cloned.
  Progress("io: plain volume (never cloned) with the fio file laid out");
  MountedVolume plain(b, b.client->CreateVolume(b.Name("fio-plain"), capacity), "fio-plain");
  LayOutFioFile(plain.file(), o.fio_file);
  std::string in_pool = b.scratch + "/fio.dat";
  // The baseline file is written in place like an image: on a btrfs pool
  // (where images are no-copy-on-write) it gets the same attribute.
  if (std::getenv("DITTO_POOL_BACKEND") == nullptr ||
      std::string(std::getenv("DITTO_POOL_BACKEND")) != "xfs") {
    RunTool({"touch", in_pool});
    RunTool({"chattr", "+C", in_pool});
  }
  LayOutFioFile(in_pool, o.fio_file);
  SyncAll();

  struct Job {
    std::string label, rw, bs;
    int depth;
    bool bandwidth;
  };
  std::vector<Job> jobs = {{"4 KiB random read, QD16", "randread", "4k", 16, false},
                           {"4 KiB random write, QD16", "randwrite", "4k", 16, false},
                           {"1 MiB sequential read, QD4", "read", "1M", 4, true},
                           {"1 MiB sequential write, QD4", "write", "1M", 4, true}};
  std::cout << "\n## 5. I/O inside a clone\n\n"
            << fmt::format(
                   "fio (libaio, O_DIRECT, {} s per job, {} file) on a file inside a clone that "
                   "was staged (ext4 on a loop device) and published over CSI, against the same "
                   "job on a file directly in the pool filesystem (no-copy-on-write on btrfs, as "
                   "images are) and in a volume that was never "
                   "cloned. Every job gets a fresh clone, made after the file was written in the "
                   "source: its reads find shared blocks, its writes are the first to each block "
                   "(copy-on-write in the pool). The last columns run the job again in the "
                   "never-cloned volume just after a clone was made of it while mounted: the "
                   "source's side of the same copy-on-write.\n\n",
                   o.fio_seconds, SizeLabel(o.fio_file))
            << "| job | in clone | in pool fs | clone / pool fs | in the clone, again | again / pool "
               "fs | in a plain volume (not a clone) | plain volume / pool fs | in that volume "
               "after a clone of it | after a clone / pool fs |\n"
               "|---|---|---|---|---|---|---|---|---|---|\n";
  int round = 0;
  for (const auto& job : jobs) {
    Progress(fmt::format("io: {} (fresh clone, pool fs, plain volume)", job.label));
    FioResult clone_result, again_result;
    {
      std::string label = fmt::format("fio-clone-{}", ++round);
      MountedVolume clone(b, b.client->CreateVolume(b.Name(label), 0, Source::kVolume, source),
                          label);
      clone_result = RunFio(clone.file(), job.rw, job.bs, job.depth, o);
      // The same job again on the same clone: writes now find blocks the
      // clone already owns, so copy-on-write is behind them.
      again_result = RunFio(clone.file(), job.rw, job.bs, job.depth, o);
    }
    FioResult pool_result = RunFio(in_pool, job.rw, job.bs, job.depth, o);
    FioResult volume_result = RunFio(plain.file(), job.rw, job.bs, job.depth, o);
    // The source's side of a clone: the plain volume, cloned while mounted,
    // now shares every block with its clone, so its own writes copy too.
    // The clone goes afterwards, which gives the blocks back to the volume.
    FioResult after_clone_result;
    {
      std::string clone = b.client->CreateVolume(b.Name(fmt::format("fio-of-plain-{}", round)), 0,
                                                 Source::kVolume, plain.id());
      after_clone_result = RunFio(plain.file(), job.rw, job.bs, job.depth, o);
      b.client->DeleteVolume(clone);
    }
    auto cell = [&](const FioResult& r) {
      return job.bandwidth ? fmt::format("{:.0f} MiB/s", r.mib_per_s)
                           : fmt::format("{:.0f} IOPS", r.iops);
    };
    auto ratio = [&](const FioResult& r) {
      return fmt::format("{:.2f}", job.bandwidth ? r.mib_per_s / pool_result.mib_per_s
                                                 : r.iops / pool_result.iops);
    };
    std::cout << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", job.label,
                             cell(clone_result), cell(pool_result), ratio(clone_result),
                             cell(again_result), ratio(again_result), cell(volume_result),
                             ratio(volume_result), cell(after_clone_result),
                             ratio(after_clone_result));
    std::cout << std::flush;
  }
  b.client->DeleteVolume(source);
  RemoveFile(in_pool);
  SyncAll();
}

// ---- 6: end to end ----

// Runs dittoctl against the benchmark's dittod; returns stdout or dies.
std::string Dittoctl(Bench& b, const std::string& state, std::vector<std::string> args) {
  std::vector<std::string> argv = {b.options.dittoctl, "--state", state, "--endpoint",
                                   "unix://" + b.daemon->options().socket};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunTool(argv);
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) Die("cannot write " + path);
}

void EndToEnd(Bench& b) {
  std::cout << "\n## 6. End to end: `dittoctl apply` of the seed's clone PVC\n\n";
  if (b.options.dittoctl.empty() || !FileExists(b.options.dittoctl)) {
    std::cout << "Pending: no dittoctl binary was available to this run (pass --dittoctl PATH).\n"
              << std::flush;
    return;
  }
  const Options& o = b.options;
  std::string state = b.root + "/dittoctl-state";
  std::string size = fmt::format("{}Mi", o.e2e_source / kMiB);
  std::string source_yaml = b.scratch + "/source.yaml";
  WriteText(source_yaml, fmt::format(R"(apiVersion: v1
kind: Namespace
metadata:
  name: myns
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: cloning
provisioner: ditto.csi.dev
volumeBindingMode: Immediate
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: pvc-1
  namespace: myns
spec:
  accessModes:
  - ReadWriteOnce
  storageClassName: cloning
  resources:
    requests:
      storage: {}
)", size));
  Progress(fmt::format("e2e: dittoctl apply of a {} source PVC", SizeLabel(o.e2e_source)));
  Dittoctl(b, state, {"apply", "-f", source_yaml});
  Dittoctl(b, state, {"wait", "pvc/pvc-1", "-n", "myns", "--for=bound", "--timeout=120s"});
  auto pvs = nlohmann::json::parse(Dittoctl(b, state, {"get", "pv", "-o", "json"}));
  std::string handle;
  for (const auto& pv : pvs["items"]) {
    if (pv["spec"]["claimRef"]["name"] == "pvc-1") {
      handle = pv["spec"]["csi"]["volumeHandle"].get<std::string>();
    }
  }
  if (handle.empty()) Die("e2e: no PV bound to pvc-1 in `dittoctl get pv -o json`");
  Progress(fmt::format("e2e: filling pvc-1's volume {} with random data", handle));
  FillFile(b.ImagePath(handle), o.e2e_source, 0xe2e);

  // The seed's clone PVC, verbatim but for the size.
  std::string clone_yaml = b.scratch + "/clone.yaml";
  WriteText(clone_yaml, fmt::format(R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata:
    name: clone-of-pvc-1
    namespace: myns
spec:
  accessModes:
  - ReadWriteOnce
  storageClassName: cloning
  resources:
    requests:
      storage: {}
  dataSource:
    kind: PersistentVolumeClaim
    name: pvc-1
)", size));
  int repeats = std::max(3, o.frag_repeats);
  std::vector<double> e2e, noop, csi;
  Progress(fmt::format("e2e: {} x (apply clone PVC, wait Bound, delete it)", repeats));
  for (int i = -1; i < repeats; ++i) {
    auto start = Clock::now();
    Dittoctl(b, state, {"apply", "-f", clone_yaml});
    Dittoctl(b, state, {"wait", "pvc/clone-of-pvc-1", "-n", "myns", "--for=bound", "--timeout=120s"});
    double ms = MillisSince(start);
    Dittoctl(b, state, {"delete", "pvc", "clone-of-pvc-1", "-n", "myns"});
    Dittoctl(b, state, {"wait", "pvc/clone-of-pvc-1", "-n", "myns", "--for=deleted", "--timeout=120s"});
    SyncAll();
    // Two dittoctl processes doing nothing: the fixed cost of the CLI.
    start = Clock::now();
    Dittoctl(b, state, {"get", "pvc", "-n", "myns"});
    Dittoctl(b, state, {"get", "pvc", "-n", "myns"});
    double noop_ms = MillisSince(start);
    start = Clock::now();
    std::string id = b.client->CreateVolume(b.Name("e2e-csi-clone"), 0, Source::kVolume, handle);
    double csi_ms = MillisSince(start);
    b.client->DeleteVolume(id);
    SyncAll();
    if (i >= 0) {
      e2e.push_back(ms);
      noop.push_back(noop_ms);
      csi.push_back(csi_ms);
    }
  }
  Summary e = Summarize(e2e), n = Summarize(noop), c = Summarize(csi);
  std::cout << fmt::format(
                   "A {} PVC `pvc-1` (StorageClass `cloning`, Immediate) filled with random data, "
                   "then the seed's `clone-of-pvc-1` applied with `dittoctl apply -f` and waited "
                   "for with `dittoctl wait --for=bound` (two processes), {} times; dittoctl "
                   "drives the benchmark's dittod with `--endpoint`. Milliseconds.\n\n"
                   "| apply + wait until Bound p50 | p90 | two no-op `dittoctl get pvc` p50 | "
                   "CSI CreateVolume clone of the same volume p50 |\n|---|---|---|---|\n"
                   "| {} | {} | {} | {} |\n",
                   SizeLabel(o.e2e_source), repeats, Ms(e.p50), Ms(e.p90), Ms(n.p50), Ms(c.p50))
            << std::flush;
  Dittoctl(b, state, {"delete", "pvc", "pvc-1", "-n", "myns"});
}

// ---- 7: fragmentation ----

struct FragStep {
  uint64_t writes = 0;
  uint64_t extents = 0;
  Summary ditto, floor;
};

FragStep MeasureFragStep(Bench& b, const std::string& source, uint64_t writes) {
  FragStep step;
  step.writes = writes;
  std::string image = b.ImagePath(source);
  step.extents = ExtentCount(image);
  std::vector<double> ditto, floor;
  for (int i = 0; i < b.options.frag_repeats; ++i) {
    auto start = Clock::now();
    std::string id = b.client->CreateVolume(b.Name("frag-clone"), 0, Source::kVolume, source);
    ditto.push_back(MillisSince(start));
    b.client->DeleteVolume(id);
    SyncAll();
    std::string raw = b.ScratchFile("frag-raw");
    start = Clock::now();
    RawClone(image, raw);
    floor.push_back(MillisSince(start));
    RemoveFile(raw);
    SyncAll();
  }
  step.ditto = Summarize(ditto);
  step.floor = Summarize(floor);
  return step;
}

void Fragmentation(Bench& b) {
  const Options& o = b.options;
  std::string source = b.WrittenVolume("frag-source", o.frag_source);
  std::string image = b.ImagePath(source);
  // A long-lived clone keeps the source's extents shared, so every later
  // write to the source is copy-on-write (the golden-image case).
  std::string keeper = b.client->CreateVolume(b.Name("frag-keeper"), 0, Source::kVolume, source);
  std::vector<FragStep> steps;
  steps.push_back(MeasureFragStep(b, source, 0));
  uint64_t done = 0;
  for (uint64_t total : o.frag_writes) {
    Progress(fmt::format("frag: {} random 4 KiB writes so far, writing {} more", done, total - done));
    RandomWrites(image, o.frag_source, total - done, 0xf7a9 + total);
    done = total;
    steps.push_back(MeasureFragStep(b, source, total));
  }
  // Mitigation: xfs_fsr rewrites the image into few contiguous extents
  // (swapping extents online; shared blocks become the image's own).
  Progress("frag: defragmenting the source image with xfs_fsr");
  uint64_t used_before = FilesystemUsedBytes(b.pool_dir);
  auto start = Clock::now();
  RunTool({"xfs_fsr", image});
  SyncAll();
  double fsr_ms = MillisSince(start);
  uint64_t used_after = FilesystemUsedBytes(b.pool_dir);
  FragStep defragged = MeasureFragStep(b, source, done);

  std::cout << "\n## 7. Fragmentation\n\n"
            << fmt::format(
                   "A {} written volume with one long-lived clone (so its extents stay shared), "
                   "then random 4 KiB writes to the source; after each step, {} clones over CSI "
                   "and {} raw FICLONEs of it (ms, p50). Extents by FIEMAP.\n\n",
                   SizeLabel(o.frag_source), o.frag_repeats, o.frag_repeats)
            << "| random 4 KiB writes | extents | ditto clone p50 | FICLONE p50 | ditto/floor |\n"
            << "|---|---|---|---|---|\n";
  for (const auto& s : steps) {
    std::cout << fmt::format("| {} | {} | {} | {} | {} |\n", s.writes, s.extents, Ms(s.ditto.p50),
                             Ms(s.floor.p50), Ratio(s.ditto.p50, s.floor.p50));
  }
  std::cout << fmt::format("| {} then `xfs_fsr` | {} | {} | {} | {} |\n", defragged.writes,
                           defragged.extents, Ms(defragged.ditto.p50), Ms(defragged.floor.p50),
                           Ratio(defragged.ditto.p50, defragged.floor.p50))
            << fmt::format(
                   "\n`xfs_fsr` of the image took {:.0f} ms and changed pool usage by {:+.1f} MiB "
                   "(the image's formerly shared blocks became its own).\n",
                   fsr_ms, (static_cast<double>(used_after) - static_cast<double>(used_before)) / kMiB)
            << std::flush;
  b.client->DeleteVolume(keeper);
  b.client->DeleteVolume(source);
  SyncAll();
}

}  // namespace
}  // namespace ditto::bench

int main(int argc, char** argv) {
  using namespace ditto::bench;
  Options options = ParseOptions(argc, argv);
  if (geteuid() != 0) Die("csi_bench needs root (it loop-mounts an XFS filesystem and dittod stages volumes)");
  if (options.dittod.empty() || !FileExists(options.dittod)) {
    Die(fmt::format("dittod not found at '{}'; pass --dittod PATH", options.dittod));
  }
  // Room for the largest source, its full copy and a little more.
  uint64_t largest = *std::max_element(options.sizes.begin(), options.sizes.end());
  uint64_t fs_size = std::max<uint64_t>(2 * largest + 8 * kGiB, 16 * kGiB);
  // The pool's backend (DITTO_POOL_BACKEND, which dittod reads too) decides
  // the filesystem: the pool lives directly on it, no backing file.
  const char* backend_env = std::getenv("DITTO_POOL_BACKEND");
  std::string backend = backend_env != nullptr && *backend_env != '\0' ? backend_env : "btrfs";
  std::string fs_type = backend == "xfs" ? "xfs" : "btrfs";
  Progress(fmt::format("creating a {} sparse {} filesystem on a loop device for a {} pool",
                       SizeLabel(fs_size), fs_type, backend));
  auto fs = Check(ditto::test::LoopFilesystem::Create(fs_type, fs_size), "loop filesystem");

  Bench b;
  b.options = options;
  b.root = fs->mount_point();
  b.pool_dir = b.root + "/pool";
  b.scratch = b.root + "/scratch";
  b.node_dir = fs->root() + "/node";
  for (const auto& dir : {b.scratch, b.node_dir}) {
    if (::mkdir(dir.c_str(), 0700) != 0) Die("mkdir " + dir);
  }
  DittodOptions daemon;
  daemon.binary = options.dittod;
  daemon.socket = fs->root() + "/csi.sock";
  daemon.pool_dir = b.pool_dir;
  daemon.pool_size = fmt::format("{}Gi", fs_size / kGiB);
  daemon.log_file = options.out + "/dittod.log";
  // A failure anywhere must not leave a daemon, mounts or loop devices behind.
  SetDieHook([&] {
    if (b.daemon) b.daemon->Stop();
    fs->Cleanup();
  });
  Progress(fmt::format("starting dittod (log: {})", daemon.log_file));
  b.daemon = DittodProcess::Start(daemon);
  b.client = std::make_unique<CsiClient>(b.daemon->NewChannel());
  Progress(fmt::format("dittod pid {} ready on {}", b.daemon->pid(), daemon.socket));

  std::cout << fmt::format("# ditto benchmark results: {} pool\n", backend) << std::flush;
  if (Wanted(options, "clone") || Wanted(options, "snapshot")) CloneAndSnapshot(b);
  if (Wanted(options, "throughput")) Throughput(b);
  if (Wanted(options, "space")) Space(b);
  if (Wanted(options, "io")) Io(b);
  if (Wanted(options, "e2e")) EndToEnd(b);
  if (Wanted(options, "frag")) Fragmentation(b);

  Progress("stopping dittod and removing the filesystem");
  b.client.reset();
  b.daemon->Stop();
  fs->Cleanup();
  Progress("done");
  return 0;
}
