// Two (or more) ditto nodes on one machine, for the node-to-node tests and
// benchmark: network namespaces joined by a veth pair, certificates made with
// the openssl CLI, and one dittod per node, run in its namespace through
// `ip netns exec` (execve, no shell), each with its own pool on its own
// loop-mounted filesystem. Everything is removed when destroyed, also after
// a failure.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "reliability/harness.h"
#include "support/loop_filesystem.h"

namespace ditto::reliability {

inline constexpr char kIpTool[] = "/usr/sbin/ip";
inline constexpr char kNsenterTool[] = "/usr/bin/nsenter";
inline constexpr char kAddressA[] = "10.77.0.1";
inline constexpr char kAddressB[] = "10.77.0.2";
inline constexpr int kPeerPort = 9811;

// Runs `argv`; an error with its output unless it exits 0.
Status RunChecked(const std::vector<std::string>& argv);

// Namespaces A and B joined by a veth pair (A: 10.77.0.1/24, B:
// 10.77.0.2/24); deleted (with the veth) when destroyed.
class NamespacePair {
 public:
  NamespacePair();
  ~NamespacePair();
  NamespacePair(const NamespacePair&) = delete;
  NamespacePair& operator=(const NamespacePair&) = delete;
  Status Create();
  // Takes A's end of the link down or up.
  Status SetLink(bool up);
  // Bytes A's end of the link has sent.
  StatusOr<uint64_t> SentByA();
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }

 private:
  std::string a_, b_, veth_a_, veth_b_;
  bool created_ = false;
};

// A directory of CAs and node certificates (PEM), made with the openssl CLI.
class Certificates {
 public:
  explicit Certificates(std::string dir) : dir_(std::move(dir)) {}
  // DIR/<ca>/{ca.key,ca.crt}.
  Status MakeCa(const std::string& ca);
  // DIR/<name>/{ca.crt,tls.crt,tls.key}: a certificate naming `node` (CN
  // and SAN) signed by `ca`, with `ca`'s certificate; returns the directory
  // (dittod --peer-tls-dir).
  StatusOr<std::string> MakeNode(const std::string& name, const std::string& node,
                                 const std::string& ca);
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// One node: its filesystem, workspace (socket, log) and dittod.
struct PeerNode {
  std::string id;
  std::unique_ptr<test::LoopFilesystem> fs;
  std::unique_ptr<Workspace> work;
  DaemonOptions options;
  std::unique_ptr<Dittod> daemon;
  std::unique_ptr<CsiClient> csi;

  // Makes the node `id`: a filesystem of the pool backend's type
  // ($DITTO_POOL_BACKEND) and a dittod in namespace `ns`, serving the
  // node-to-node service on `address` with the certificates in `tls_dir`,
  // knowing `peers` (NODE=HOST:PORT). Not started.
  static StatusOr<std::unique_ptr<PeerNode>> Make(const std::string& id, const std::string& ns,
                                                  const std::string& address,
                                                  const std::vector<std::string>& peers,
                                                  const std::string& tls_dir,
                                                  uint64_t fs_bytes = uint64_t{3} << 30);
  Status Start();
  std::string pool_dir() const;
  // The image file of a volume ("volumes") or snapshot ("snapshots").
  std::string ImagePath(const std::string& kind, const std::string& image_id) const;
  std::string Log() const;
};

// "btrfs" or "xfs", from $DITTO_POOL_BACKEND.
std::string PoolBackendFromEnv();

// Requests.
void RequireNode(pb::CreateVolumeRequest& request, const std::string& node);
pb::CreateVolumeRequest BlockVolumeRequest(const std::string& name, int64_t bytes);
void MakeBlock(pb::CreateVolumeRequest& request);

// Retries `request` on `node` as a CSI caller does until it returns the
// volume; any other code than ABORTED or UNAVAILABLE ends it with an error.
// Each non-final message goes to `progress` (may be null); `between` (may be
// empty) runs after each. DeadlineExceeded after `limit`.
StatusOr<pb::Volume> CreateUntilDone(PeerNode& node, const pb::CreateVolumeRequest& request,
                                     std::vector<std::string>* progress = nullptr,
                                     const std::function<void()>& between = {},
                                     std::chrono::seconds limit = std::chrono::seconds(300),
                                     std::chrono::milliseconds poll = std::chrono::milliseconds(200));

// Writes `pieces` pieces of `piece_bytes` random bytes spread evenly over
// the first `span` bytes of the file at `path`, and fsyncs it.
Status WriteSpread(const std::string& path, uint64_t span, int pieces, size_t piece_bytes);

}  // namespace ditto::reliability
