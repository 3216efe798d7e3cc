// How ditto's costs grow with the number of volumes in one pool, over the
// real daemon: dittod as a child process on a pool on a loop-mounted
// filesystem that this program creates and removes (btrfs, or XFS with
// DITTO_POOL_BACKEND=xfs), CSI over its unix socket, /metrics over HTTP.
//
//   scale_bench [--dittod PATH] [--out DIR] [--points 1000,10000,100000]
//               [--sample N] [--clients N] [--size 64Mi] [--quick]   (--help)
//
// The pool is filled with clones of one thin volume (its first 4 MiB
// written) by --clients concurrent clients up to each point. At the empty
// pool (the source alone) and at each point it measures, one client at a
// time: p50/p95 of --sample creates of empty thin volumes, of --sample
// clones, and of the deletes of all that the sample made; a /metrics scrape;
// ListVolumes pages of 500 (the first and the middle one, walking every
// page); and dittod's restart: from starting the process to its first
// successful Probe. stdout is a Markdown report with the ratios of every
// figure against the empty pool; stderr shows progress. Needs root.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "bench/csi_client.h"
#include "bench/dittod_process.h"
#include "CLI/CLI.hpp"
#include "fmt/format.h"
#include "support/loop_filesystem.h"
#include "support/pool_paths.h"

#ifndef DITTO_BENCH_DITTOD
#define DITTO_BENCH_DITTOD ""
#endif

namespace ditto::bench {
namespace {

struct Options {
  std::string dittod = DITTO_BENCH_DITTOD;
  std::string out = ".";
  std::vector<uint64_t> points = {1000, 10000, 100000};
  int sample = 200;
  int clients = 4;
  uint64_t size = 64 * kMiB;
  int page = 500;  // ListVolumes max_entries
  int scrapes = 5;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  CLI::App app{"How ditto's costs grow with the number of volumes in one pool (needs root)",
               "scale_bench"};
  app.add_option("--dittod", options.dittod, "path of dittod");
  app.add_option("--out", options.out, "directory for dittod's logs");
  app.add_option("--points", options.points, "pool sizes to measure at (volumes)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--sample", options.sample, "creates and clones measured at each point")
      ->check(CLI::PositiveNumber);
  app.add_option("--clients", options.clients, "concurrent clients filling the pool")
      ->check(CLI::PositiveNumber);
  std::string size;
  app.add_option("--size", size, "size of each volume (64Mi)");
  bool quick = false;
  app.add_flag("--quick", quick, "a smoke run in a minute or two (300 and 1000 volumes)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  if (!size.empty()) options.size = ParseSize(size);
  if (quick) {
    options.points = {300, 1000};
    options.sample = 50;
    options.scrapes = 3;
  }
  if (options.points.empty()) Die("--points must name at least one pool size");
  std::sort(options.points.begin(), options.points.end());
  return options;
}

// A TCP port on 127.0.0.1 that nothing listens on right now.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die(fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    Die(fmt::format("bind 127.0.0.1:0: {}", std::strerror(errno)));
  }
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// GET http://127.0.0.1:port/path over HTTP/1.0; returns the body (dies on
// anything but 200).
std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die(fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Die(fmt::format("connect 127.0.0.1:{}: {}", port, std::strerror(errno)));
  }
  std::string request = fmt::format("GET {} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    Die(fmt::format("send to 127.0.0.1:{}: {}", port, std::strerror(errno)));
  }
  std::string response;
  char buffer[16384];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0) Die(fmt::format("recv from 127.0.0.1:{}: {}", port, std::strerror(errno)));
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") == std::string::npos ||
      response.find(" 200 ") > response.find('\n')) {
    Die(fmt::format("GET {} did not answer 200: {}", path, response.substr(0, 200)));
  }
  size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// The breakdown dittod logs once serving ("started in N ms (pool: ...)").
std::string StartupBreakdown(const std::string& log_file) {
  std::ifstream log(log_file);
  std::string line, found = "(no start-up line in " + log_file + ")";
  while (std::getline(log, line)) {
    size_t at = line.find("started in ");
    if (at != std::string::npos) found = line.substr(at + 11);
  }
  return found;
}

struct Point {
  uint64_t volumes = 0;  // in the pool before the sample
  Summary create, clone, remove;
  double p95_create = 0, p95_clone = 0, p95_remove = 0;
  double restart_ms = 0;
  std::string startup;  // dittod's own "started in ..." breakdown
  double scrape_ms = 0;
  double first_page_ms = 0, middle_page_ms = 0, all_pages_ms = 0;
  int pages = 0;
};

struct Bench {
  Options options;
  DittodOptions daemon_options;
  int metrics_port = 0;
  std::unique_ptr<DittodProcess> daemon;
  std::unique_ptr<CsiClient> client;
  std::string source;
  std::atomic<uint64_t> counter{0};
  uint64_t volumes = 0;  // in the pool now

  std::string Name(const std::string& prefix) { return fmt::format("{}-{}", prefix, ++counter); }
};

// Clones of the source until the pool holds `target` volumes, from
// --clients threads with a connection each.
void Populate(Bench& b, uint64_t target) {
  if (b.volumes >= target) return;
  uint64_t missing = target - b.volumes;
  Progress(fmt::format("populating: {} clones to reach {} volumes ({} clients)", missing, target,
                       b.options.clients));
  std::atomic<uint64_t> next{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < b.options.clients; ++t) {
    threads.emplace_back([&] {
      CsiClient client(b.daemon->NewChannel());
      while (true) {
        uint64_t n = next.fetch_add(1);
        if (n >= missing) break;
        client.CreateVolume(b.Name("fill"), 0, Source::kVolume, b.source);
        if ((n + 1) % 5000 == 0) {
          Progress(fmt::format("populating: {}/{} ({:.0f}/s)", n + 1, missing,
                               (n + 1) * 1000.0 / MillisSince(start)));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  b.volumes = target;
  Progress(fmt::format("populated {} volumes in {:.0f} s", target, MillisSince(start) / 1000));
}

Point Measure(Bench& b) {
  Point point;
  point.volumes = b.volumes;
  const int n = b.options.sample;
  Progress(fmt::format("at {} volumes: {} creates, {} clones, {} deletes", b.volumes, n, n, 2 * n));
  std::vector<double> create, clone, remove;
  std::vector<std::string> made;
  for (int i = 0; i < n; ++i) {
    auto start = Clock::now();
    made.push_back(b.client->CreateVolume(b.Name("sample-empty"), b.options.size));
    create.push_back(MillisSince(start));
  }
  for (int i = 0; i < n; ++i) {
    auto start = Clock::now();
    made.push_back(b.client->CreateVolume(b.Name("sample-clone"), 0, Source::kVolume, b.source));
    clone.push_back(MillisSince(start));
  }
  for (const auto& id : made) {
    auto start = Clock::now();
    b.client->DeleteVolume(id);
    remove.push_back(MillisSince(start));
  }
  point.create = Summarize(create);
  point.clone = Summarize(clone);
  point.remove = Summarize(remove);
  point.p95_create = Percentile(create, 95);
  point.p95_clone = Percentile(clone, 95);
  point.p95_remove = Percentile(remove, 95);

  Progress(fmt::format("at {} volumes: {} /metrics scrapes", b.volumes, b.options.scrapes));
  std::vector<double> scrapes;
  for (int i = 0; i < b.options.scrapes; ++i) {
    auto start = Clock::now();
    std::string body = HttpGet(b.metrics_port, "/metrics");
    scrapes.push_back(MillisSince(start));
    std::string gauge = fmt::format("ditto_pool_volumes {}", b.volumes);
    if (body.find(gauge) == std::string::npos) {
      Die(fmt::format("/metrics does not say \"{}\"", gauge));
    }
  }
  point.scrape_ms = Percentile(scrapes, 50);

  Progress(fmt::format("at {} volumes: ListVolumes, every page of {}", b.volumes, b.options.page));
  std::vector<double> pages;
  std::string token;
  uint64_t listed = 0;
  auto all = Clock::now();
  do {
    auto start = Clock::now();
    listed += static_cast<uint64_t>(b.client->ListVolumes(b.options.page, token, &token));
    pages.push_back(MillisSince(start));
  } while (!token.empty());
  point.all_pages_ms = MillisSince(all);
  if (listed != b.volumes) {
    Die(fmt::format("ListVolumes listed {} volumes, the pool holds {}", listed, b.volumes));
  }
  point.pages = static_cast<int>(pages.size());
  point.first_page_ms = pages.front();
  point.middle_page_ms = pages[pages.size() / 2];

  Progress(fmt::format("at {} volumes: restarting dittod", b.volumes));
  b.client.reset();
  b.daemon->Stop();
  // At info level, so that its log gives its own breakdown of the start-up.
  DittodOptions restart = b.daemon_options;
  restart.log_level = "info";
  restart.log_file = fmt::format("{}/dittod-restart-{}.log", b.options.out, b.volumes);
  (void)::unlink(restart.log_file.c_str());
  auto start = Clock::now();
  b.daemon = DittodProcess::Start(restart);
  point.restart_ms = MillisSince(start);
  point.startup = StartupBreakdown(restart.log_file);
  // Back to the quiet log for the rest (one info line per volume made).
  b.daemon->Stop();
  b.daemon = DittodProcess::Start(b.daemon_options);
  b.client = std::make_unique<CsiClient>(b.daemon->NewChannel());
  return point;
}

std::string Ms(double ms) {
  return ms >= 100 ? fmt::format("{:.0f}", ms) : fmt::format("{:.2f}", ms);
}
std::string Ratio(double a, double b) { return b > 0 ? fmt::format("{:.2f}x", a / b) : "n/a"; }

void Report(std::ostream& out, const Bench& b, const std::vector<Point>& points,
            const std::string& backend) {
  const Options& o = b.options;
  out << fmt::format("# ditto scale benchmark: {} pool\n\n", backend)
            << fmt::format(
                   "Volumes are {} thin clones of one volume (its first 4 MiB written), made "
                   "by {} concurrent clients. At each point one client measures {} creates of "
                   "empty {} thin volumes, {} clones and the {} deletes of what it made "
                   "(milliseconds), the median of {} /metrics scrapes, ListVolumes pages of {} "
                   "(the first, the middle one and the whole walk) and dittod's restart to its "
                   "first successful Probe. The first row is the pool holding only the source.\n\n",
                   SizeLabel(o.size), o.clients, o.sample, SizeLabel(o.size), o.sample,
                   2 * o.sample, o.scrapes, o.page)
            << "| volumes | create p50 | create p95 | clone p50 | clone p95 | delete p50 | "
               "delete p95 | restart | scrape | list first page | list middle page | pages | "
               "list all pages |\n"
            << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : points) {
    out << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                             p.volumes, Ms(p.create.p50), Ms(p.p95_create), Ms(p.clone.p50),
                             Ms(p.p95_clone), Ms(p.remove.p50), Ms(p.p95_remove),
                             Ms(p.restart_ms), Ms(p.scrape_ms), Ms(p.first_page_ms),
                             Ms(p.middle_page_ms), p.pages, Ms(p.all_pages_ms));
  }
  const Point& base = points.front();
  // Pages: against the first point whose pages are full (a page's cost
  // grows with its entries: each one's image is checked for the volume
  // condition).
  const Point* full = &base;
  for (const auto& p : points) {
    if (p.volumes >= static_cast<uint64_t>(o.page)) {
      full = &p;
      break;
    }
  }
  out << "\nRatios against the empty pool, list pages against the first point with full pages "
         "(" << full->volumes << " volumes). Targets: create, clone and delete p50 within 1.2x; "
         "restart under 1 s and a scrape under 50 ms at 100k; list pages flat.\n\n"
            << "| volumes | create p50 | clone p50 | delete p50 | restart | scrape | list first "
               "page | list middle page |\n"
            << "|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : points) {
    out << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", p.volumes,
                             Ratio(p.create.p50, base.create.p50),
                             Ratio(p.clone.p50, base.clone.p50),
                             Ratio(p.remove.p50, base.remove.p50),
                             Ratio(p.restart_ms, base.restart_ms),
                             Ratio(p.scrape_ms, base.scrape_ms),
                             Ratio(p.first_page_ms, full->first_page_ms),
                             Ratio(p.middle_page_ms, full->middle_page_ms));
  }
  out << "\nWhere each restart's time went, as dittod itself logged it (to its first Probe, "
         "the restart column adds the process start and the client's polling):\n\n";
  for (const auto& p : points) out << fmt::format("- {} volumes: {}\n", p.volumes, p.startup);
  out << std::flush;
}

std::string ImagePath(const std::string& pool_dir, const std::string& id) {
  std::string image = ditto::test::FindVolumeImage(pool_dir, id);
  if (image.empty()) Die(fmt::format("cannot find the image of volume {} under {}", id, pool_dir));
  return image;
}

}  // namespace
}  // namespace ditto::bench

int main(int argc, char** argv) {
  using namespace ditto::bench;
  Options options = ParseOptions(argc, argv);
  if (geteuid() != 0) Die("scale_bench needs root (it loop-mounts a filesystem)");
  if (options.dittod.empty() || !FileExists(options.dittod)) {
    Die(fmt::format("dittod not found at '{}'; pass --dittod PATH", options.dittod));
  }
  const char* backend_env = std::getenv("DITTO_POOL_BACKEND");
  std::string backend = backend_env != nullptr && *backend_env != '\0' ? backend_env : "btrfs";
  std::string fs_type = backend == "xfs" ? "xfs" : "btrfs";
  // Sparse, and large enough that the largest point's volumes stay within
  // the default over-commit ratio (10) of its capacity.
  uint64_t fs_size = std::max<uint64_t>(
      16 * kGiB, ((options.points.back() + 2 * options.sample + 16) * options.size / 8 / kGiB + 1) * kGiB);
  Progress(fmt::format("creating a {} sparse {} filesystem on a loop device for a {} pool",
                       SizeLabel(fs_size), fs_type, backend));
  auto fs = Check(ditto::test::LoopFilesystem::Create(fs_type, fs_size), "loop filesystem");

  Bench b;
  b.options = options;
  std::string pool_dir = fs->mount_point() + "/pool";
  b.metrics_port = FreePort();
  b.daemon_options.binary = options.dittod;
  b.daemon_options.socket = fs->root() + "/csi.sock";
  b.daemon_options.pool_dir = pool_dir;
  b.daemon_options.pool_size = fmt::format("{}Gi", fs_size / kGiB);
  b.daemon_options.log_file = options.out + "/dittod-scale.log";
  b.daemon_options.log_level = "warn";  // one line per volume would dominate at 100k
  b.daemon_options.metrics_address = fmt::format("127.0.0.1:{}", b.metrics_port);
  SetDieHook([&] {
    if (b.daemon) b.daemon->Stop();
    fs->Cleanup();
  });
  Progress(fmt::format("starting dittod (log: {})", b.daemon_options.log_file));
  b.daemon = DittodProcess::Start(b.daemon_options);
  b.client = std::make_unique<CsiClient>(b.daemon->NewChannel());

  b.source = b.client->CreateVolume(b.Name("source"), options.size);
  FillFile(ImagePath(pool_dir, b.source), 4 * kMiB, 0x5ca1e);
  b.volumes = 1;

  std::vector<Point> points;
  points.push_back(Measure(b));
  for (uint64_t target : options.points) {
    Populate(b, target);
    points.push_back(Measure(b));
    Report(std::cerr, b, points, backend);  // so far, in case a later point fails
  }
  Report(std::cout, b, points, backend);

  Progress("stopping dittod and removing the filesystem");
  b.client.reset();
  b.daemon->Stop();
  fs->Cleanup();
  Progress("done");
  return 0;
}
