#include "reliability/peer_nodes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace ditto::reliability {

namespace {
constexpr char kTopologyKey[] = "topology.ditto.csi.dev/node";
constexpr char kOpenssl[] = "/usr/bin/openssl";
}  // namespace

Status RunChecked(const std::vector<std::string>& argv) {
  ToolResult result = RunTool(argv);
  if (result.exit_code == 0) return absl::OkStatus();
  return absl::InternalError(fmt::format("{} exited {}: {}", fmt::join(argv, " "),
                                         result.exit_code, result.output));
}

NamespacePair::NamespacePair() {
  std::string id = std::to_string(getpid());
  a_ = "ditto-peer-a-" + id;
  b_ = "ditto-peer-b-" + id;
  veth_a_ = "dpa" + id;
  veth_b_ = "dpb" + id;
}

NamespacePair::~NamespacePair() {
  // Deleting a namespace deletes the veth end in it, and so its peer.
  for (const auto& ns : {a_, b_}) (void)RunTool({kIpTool, "netns", "delete", ns});
}

Status NamespacePair::Create() {
  RETURN_IF_ERROR(RunChecked({kIpTool, "netns", "add", a_}));
  RETURN_IF_ERROR(RunChecked({kIpTool, "netns", "add", b_}));
  RETURN_IF_ERROR(
      RunChecked({kIpTool, "link", "add", veth_a_, "type", "veth", "peer", "name", veth_b_}));
  RETURN_IF_ERROR(RunChecked({kIpTool, "link", "set", veth_a_, "netns", a_}));
  RETURN_IF_ERROR(RunChecked({kIpTool, "link", "set", veth_b_, "netns", b_}));
  for (auto [ns, veth, address] :
       {std::tuple{a_, veth_a_, kAddressA}, std::tuple{b_, veth_b_, kAddressB}}) {
    RETURN_IF_ERROR(RunChecked(
        {kIpTool, "-n", ns, "addr", "add", std::string(address) + "/24", "dev", veth}));
    RETURN_IF_ERROR(RunChecked({kIpTool, "-n", ns, "link", "set", veth, "up"}));
    RETURN_IF_ERROR(RunChecked({kIpTool, "-n", ns, "link", "set", "lo", "up"}));
  }
  return absl::OkStatus();
}

Status NamespacePair::SetLink(bool up) {
  return RunChecked({kIpTool, "-n", a_, "link", "set", veth_a_, up ? "up" : "down"});
}

StatusOr<uint64_t> NamespacePair::SentByA() {
  ToolResult result = RunTool({kIpTool, "-n", a_, "-j", "-s", "link", "show", "dev", veth_a_});
  if (result.exit_code != 0) return absl::InternalError(result.output);
  auto json = nlohmann::json::parse(result.output, nullptr, false);
  if (json.is_discarded() || !json.is_array() || json.empty() ||
      !json[0].contains("stats64")) {
    return absl::InternalError("ip -j -s link show printed no stats64: " + result.output);
  }
  return json[0]["stats64"]["tx"]["bytes"].get<uint64_t>();
}

Status Certificates::MakeCa(const std::string& ca) {
  std::string d = dir_ + "/" + ca;
  if (mkdir(d.c_str(), 0700) != 0) return absl::InternalError("mkdir " + d);
  return RunChecked({kOpenssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", d + "/ca.key", "-out",
                     d + "/ca.crt", "-days", "2", "-subj", "/CN=" + ca});
}

StatusOr<std::string> Certificates::MakeNode(const std::string& name, const std::string& node,
                                             const std::string& ca) {
  std::string d = dir_ + "/" + name;
  if (mkdir(d.c_str(), 0700) != 0) return absl::InternalError("mkdir " + d);
  std::string ca_dir = dir_ + "/" + ca;
  RETURN_IF_ERROR(RunChecked({kOpenssl, "req", "-new", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                              d + "/tls.key", "-out", d + "/tls.csr", "-subj", "/CN=" + node,
                              "-addext", "subjectAltName=DNS:" + node}));
  RETURN_IF_ERROR(RunChecked({kOpenssl, "x509", "-req", "-in", d + "/tls.csr", "-CA",
                              ca_dir + "/ca.crt", "-CAkey", ca_dir + "/ca.key", "-CAcreateserial",
                              "-out", d + "/tls.crt", "-days", "2", "-copy_extensions",
                              "copyall"}));
  RETURN_IF_ERROR(RunChecked({"/usr/bin/cp", ca_dir + "/ca.crt", d + "/ca.crt"}));
  return d;
}

std::string PoolBackendFromEnv() {
  const char* backend = std::getenv("DITTO_POOL_BACKEND");
  return backend != nullptr && std::string(backend) == "xfs" ? "xfs" : "btrfs";
}

StatusOr<std::unique_ptr<PeerNode>> PeerNode::Make(const std::string& id, const std::string& ns,
                                                   const std::string& address,
                                                   const std::vector<std::string>& peers,
                                                   const std::string& tls_dir,
                                                   uint64_t fs_bytes) {
  auto node = std::make_unique<PeerNode>();
  node->id = id;
  ASSIGN_OR_RETURN(node->fs, test::LoopFilesystem::Create(PoolBackendFromEnv(), fs_bytes));
  node->work = std::make_unique<Workspace>("ditto-peer-" + id);
  node->options = node->work->Options();
  node->options.node_id = id;
  node->options.pool_dir = node->pool_dir();
  node->options.pool_size = "1Gi";  // only used if the filesystem does not suit the backend
  // nsenter joins the network namespace alone. `ip netns exec` would also
  // give dittod a private copy of the mount table, pinning every filesystem
  // mounted at that moment (other tests' staged volumes included) until it
  // exits: their loop devices could not be detached meanwhile.
  node->options.wrapper = {kNsenterTool, "--net=/run/netns/" + ns, "--"};
  if (!address.empty()) {
    node->options.extra_args = {"--peer-listen", fmt::format("{}:{}", address, kPeerPort)};
  }
  for (const auto& peer : peers) {
    node->options.extra_args.insert(node->options.extra_args.end(), {"--peer", peer});
  }
  node->options.extra_args.insert(node->options.extra_args.end(), {"--peer-tls-dir", tls_dir});
  return node;
}

Status PeerNode::Start() {
  ASSIGN_OR_RETURN(daemon, Dittod::Start(options));
  csi = std::make_unique<CsiClient>(daemon->channel(), std::chrono::seconds(30));
  return absl::OkStatus();
}

std::string PeerNode::pool_dir() const { return fs->mount_point() + "/pool-" + id; }

std::string PeerNode::ImagePath(const std::string& kind, const std::string& image_id) const {
  std::string base = pool_dir() + "/" + kind + "/" + image_id;
  struct stat info;
  if (::stat((base + ".img").c_str(), &info) == 0) return base + ".img";
  return base + "/disk.img";
}

std::string PeerNode::Log() const {
  auto text = ReadWholeFile(options.log_path);
  return text.ok() ? *text : "";
}

void RequireNode(pb::CreateVolumeRequest& request, const std::string& node) {
  auto* requirements = request.mutable_accessibility_requirements();
  (*requirements->add_requisite()->mutable_segments())[kTopologyKey] = node;
  (*requirements->add_preferred()->mutable_segments())[kTopologyKey] = node;
}

void MakeBlock(pb::CreateVolumeRequest& request) {
  request.clear_volume_capabilities();
  *request.add_volume_capabilities() = BlockCapability();
}

pb::CreateVolumeRequest BlockVolumeRequest(const std::string& name, int64_t bytes) {
  pb::CreateVolumeRequest request = VolumeRequest(name, bytes);
  MakeBlock(request);
  return request;
}

StatusOr<pb::Volume> CreateUntilDone(PeerNode& node, const pb::CreateVolumeRequest& request,
                                     std::vector<std::string>* progress,
                                     const std::function<void()>& between,
                                     std::chrono::seconds limit,
                                     std::chrono::milliseconds poll) {
  auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    if (!node.daemon->Running()) {
      return absl::FailedPreconditionError(
          fmt::format("dittod of {} died; log:\n{}", node.id, node.daemon->LogTail()));
    }
    pb::CreateVolumeResponse response;
    grpc::Status status = node.csi->CreateVolume(request, &response);
    if (status.ok()) return response.volume();
    if (status.error_code() != grpc::StatusCode::ABORTED &&
        status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      return absl::InternalError(
          fmt::format("CreateVolume on {}: {}", node.id, Describe(status)));
    }
    if (progress) progress->push_back(Describe(status));
    if (between) between();
    std::this_thread::sleep_for(poll);
  }
  std::string log = node.Log();
  return absl::DeadlineExceededError(
      fmt::format("CreateVolume on {} did not finish in {} s; log:\n{}", node.id, limit.count(),
                  log.substr(log.size() > 4000 ? log.size() - 4000 : 0)));
}

Status WriteSpread(const std::string& path, uint64_t span, int pieces, size_t piece_bytes) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(fmt::format("open {}: {}", path, std::strerror(errno)));
  std::mt19937_64 random(42);
  std::string data(piece_bytes, '\0');
  for (size_t i = 0; i + 8 <= data.size(); i += 8) {
    uint64_t value = random();
    std::memcpy(&data[i], &value, 8);
  }
  uint64_t stride = span / pieces;
  Status result;
  for (int i = 0; i < pieces && result.ok(); ++i) {
    std::memcpy(&data[0], &i, sizeof(i));  // no two pieces alike
    if (pwrite(fd, data.data(), data.size(), static_cast<off_t>(i * stride)) !=
        static_cast<ssize_t>(data.size())) {
      result = absl::InternalError(fmt::format("pwrite {}: {}", path, std::strerror(errno)));
    }
  }
  if (result.ok() && fsync(fd) != 0) result = absl::InternalError("fsync " + path);
  close(fd);
  return result;
}

}  // namespace ditto::reliability
