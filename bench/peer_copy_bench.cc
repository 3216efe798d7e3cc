// Throughput of a clone across nodes: node B copies a fully written volume
// from node A over a veth pair between two network namespaces (mutual TLS,
// per-chunk SHA-256, written into B's pool), against two baselines measured
// in the same run on the same bytes: `cat image > /dev/null` on A (reading
// the source) and a plain TCP copy over the same veth into a file on B's
// filesystem. The source's page cache is dropped before each measurement.
// Then the incremental copy: 1/16 of the source rewritten, snapshotted
// again and restored on B, which holds the copy of the first snapshot, so
// only the changed blocks cross; its time and bytes on the link against the
// full copy's. Needs root (namespaces, loop devices). Prints the ratios.
//
//   peer_copy_bench [MiB]    (default 1024)
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "fmt/format.h"
#include "reliability/peer_nodes.h"
#include "support/temp_dir.h"

namespace ditto::reliability {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& message) {
  fmt::print(stderr, "peer_copy_bench: {}\n", message);
  std::exit(1);
}

void Check(const Status& status, const char* what) {
  if (!status.ok()) Die(fmt::format("{}: {}", what, std::string(status.message())));
}

void DropCache(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die("open " + path);
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// `cat path > /dev/null`, run by fork+execve.
double TimeCat(const std::string& path) {
  DropCache(path);
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, STDOUT_FILENO);
    char* argv[] = {const_cast<char*>("/usr/bin/cat"), const_cast<char*>(path.c_str()), nullptr};
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("cat failed");
  return Seconds(Clock::now() - start);
}

// Moves this thread into network namespace `ns` (setns is per thread).
void EnterNamespace(const std::string& ns) {
  int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) Die("cannot enter network namespace " + ns);
  close(fd);
}

// A plain TCP copy of `source` (in A) into `destination` (on B's
// filesystem) over the veth: A sends, B receives, writes and fsyncs.
double TimeTcpCopy(const NamespacePair& netns, const std::string& source,
                   const std::string& destination) {
  DropCache(source);
  constexpr int kPort = 9899;
  int listener = -1;
  std::thread listening([&] {
    EnterNamespace(netns.a());
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(kPort);
    inet_pton(AF_INET, kAddressA, &address.sin_addr);
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listener, 1) != 0) {
      Die("cannot listen for the TCP baseline");
    }
  });
  listening.join();
  auto start = Clock::now();
  std::thread sender([&] {
    int connection = accept(listener, nullptr, nullptr);
    int fd = open(source.c_str(), O_RDONLY | O_CLOEXEC);
    std::string buffer(1 << 20, '\0');
    ssize_t n;
    while ((n = read(fd, buffer.data(), buffer.size())) > 0) {
      for (ssize_t sent = 0; sent < n;) {
        ssize_t w = send(connection, buffer.data() + sent, n - sent, 0);
        if (w <= 0) Die("send failed");
        sent += w;
      }
    }
    close(fd);
    close(connection);
  });
  std::thread receiver([&] {
    EnterNamespace(netns.b());
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(kPort);
    inet_pton(AF_INET, kAddressA, &address.sin_addr);
    if (connect(s, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      Die("cannot connect for the TCP baseline");
    }
    int fd = open(destination.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::string buffer(1 << 20, '\0');
    ssize_t n;
    while ((n = recv(s, buffer.data(), buffer.size(), 0)) > 0) {
      if (write(fd, buffer.data(), n) != n) Die("write failed");
    }
    fsync(fd);
    close(fd);
    close(s);
  });
  sender.join();
  receiver.join();
  double seconds = Seconds(Clock::now() - start);
  close(listener);
  return seconds;
}

int Main(int argc, char** argv) {
  if (geteuid() != 0) Die("needs root (network namespaces, loop devices)");
  uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
  if (mib == 0) Die("give the size in MiB");
  uint64_t bytes = mib << 20;

  NamespacePair netns;
  Check(netns.Create(), "network namespaces");
  test::TempDir certs_dir("ditto-peer-bench-certs");
  Certificates certs(certs_dir.path());
  Check(certs.MakeCa("ca"), "CA");
  auto tls_a = certs.MakeNode("node-a", "node-a", "ca");
  auto tls_b = certs.MakeNode("node-b", "node-b", "ca");
  Check(tls_a.status(), "certificate of node-a");
  Check(tls_b.status(), "certificate of node-b");
  uint64_t fs_bytes = bytes * 3 + (uint64_t{1} << 30);
  auto a = PeerNode::Make("node-a", netns.a(), kAddressA,
                          {fmt::format("node-b={}:{}", kAddressB, kPeerPort)}, *tls_a, fs_bytes);
  auto b = PeerNode::Make("node-b", netns.b(), kAddressB,
                          {fmt::format("node-a={}:{}", kAddressA, kPeerPort)}, *tls_b, fs_bytes);
  Check(a.status(), "node-a");
  Check(b.status(), "node-b");
  Check((*a)->Start(), "dittod on node-a");
  Check((*b)->Start(), "dittod on node-b");

  pb::CreateVolumeResponse source;
  grpc::Status status =
      (*a)->csi->CreateVolume(BlockVolumeRequest("bench-source", static_cast<int64_t>(bytes)), &source);
  if (!status.ok()) Die("CreateVolume on node-a: " + Describe(status));
  std::string image = (*a)->ImagePath("volumes", source.volume().volume_id());
  Check(WriteSpread(image, bytes, static_cast<int>(mib / 16), 16 << 20), "writing the source");

  double cat = TimeCat(image);
  double tcp = TimeTcpCopy(netns, image, (*b)->fs->mount_point() + "/tcp-copy");

  // Restores on B of snapshots of the source: the time and the bytes A sent.
  struct Copied {
    double seconds = 0;
    uint64_t crossed = 0;
  };
  auto restore_on_b = [&](const std::string& name, const std::string& snapshot_name) {
    pb::CreateSnapshotResponse snapshot;
    grpc::Status made =
        (*a)->csi->CreateSnapshot(snapshot_name, source.volume().volume_id(), &snapshot);
    if (!made.ok()) Die("CreateSnapshot on node-a: " + Describe(made));
    DropCache((*a)->ImagePath("snapshots", snapshot.snapshot().snapshot_id()));
    pb::CreateVolumeRequest restore = RestoreRequest(name, snapshot.snapshot().snapshot_id());
    MakeBlock(restore);
    RequireNode(restore, "node-b");
    auto sent_before = netns.SentByA();
    Check(sent_before.status(), "bytes sent by node-a");
    auto start = Clock::now();
    auto copy = CreateUntilDone(**b, restore, nullptr, {}, std::chrono::seconds(1800),
                                std::chrono::milliseconds(10));
    Copied copied{Seconds(Clock::now() - start), 0};
    Check(copy.status(), "the copy");
    auto sent_after = netns.SentByA();
    Check(sent_after.status(), "bytes sent by node-a");
    copied.crossed = *sent_after - *sent_before;
    return copied;
  };
  Copied full = restore_on_b("bench-copy", "bench-base");
  double peer = full.seconds;

  // 1/16 of the data rewritten (4 MiB in every 64 MiB), then the copy of
  // the new snapshot: B starts from its copy of the first one.
  uint64_t changed = std::max<uint64_t>(mib / 64, 1) * (4 << 20);
  Check(WriteSpread(image, bytes, static_cast<int>(std::max<uint64_t>(mib / 64, 1)), 4 << 20),
        "rewriting 1/16 of the source");
  Copied incremental = restore_on_b("bench-incremental", "bench-changed");
  if ((*b)->Log().find("is incremental") == std::string::npos) {
    Die("the second copy was not incremental; see node-b's log");
  }

  auto rate = [&](double seconds) { return static_cast<double>(bytes) / (1 << 20) / seconds; };
  fmt::print("peer copy of {} MiB of data over a veth pair ({} pools)\n", mib, PoolBackendFromEnv());
  fmt::print("  {:<28} {:8.2f} s  {:8.1f} MiB/s\n", "cat image > /dev/null", cat, rate(cat));
  fmt::print("  {:<28} {:8.2f} s  {:8.1f} MiB/s\n", "plain TCP copy", tcp, rate(tcp));
  fmt::print("  {:<28} {:8.2f} s  {:8.1f} MiB/s\n", "ditto peer copy (mTLS)", peer, rate(peer));
  fmt::print("  ratio peer/cat (throughput) {:.2f}, peer/TCP {:.2f}\n", cat / peer, tcp / peer);
  auto mib_of = [](uint64_t b) { return static_cast<double>(b) / (1 << 20); };
  fmt::print("incremental copy after rewriting {} MiB ({:.1f}% of the data)\n", changed >> 20,
             100.0 * changed / bytes);
  fmt::print("  {:<28} {:8.2f} s  {:8.1f} MiB on the link\n", "full copy", full.seconds,
             mib_of(full.crossed));
  fmt::print("  {:<28} {:8.2f} s  {:8.1f} MiB on the link\n", "incremental copy",
             incremental.seconds, mib_of(incremental.crossed));
  fmt::print("  ratio incremental/full: time {:.3f}, bytes on the link {:.3f} (changed/data "
             "{:.3f})\n",
             incremental.seconds / full.seconds,
             static_cast<double>(incremental.crossed) / static_cast<double>(full.crossed),
             static_cast<double>(changed) / static_cast<double>(bytes));
  return 0;
}

}  // namespace
}  // namespace ditto::reliability

int main(int argc, char** argv) { return ditto::reliability::Main(argc, argv); }
