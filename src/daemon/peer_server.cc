#include "daemon/peer_server.h"

#include "common/quantity.h"
#include "fmt/format.h"
#include "peer/kubernetes_peers.h"
#include "peer/tls.h"
#include "spdlog/spdlog.h"

namespace ditto {

StatusOr<std::optional<peer::TransferOptions>> PeerOptionsFromFlags(host::Host& host,
                                                                    const PeerFlags& flags,
                                                                    const std::string& node_id) {
  bool kubernetes = flags.discovery == "kubernetes";
  if (!kubernetes && flags.discovery != "static") {
    return absl::InvalidArgumentError(fmt::format(
        "--peer-discovery {}: use static (the --peer map) or kubernetes (the cluster's Nodes)",
        flags.discovery));
  }
  if (flags.listen.empty() && flags.peers.empty() && flags.tls_dir.empty() && !kubernetes) {
    return std::nullopt;
  }
  if (flags.tls_dir.empty()) {
    return absl::InvalidArgumentError(
        "--peer, --peer-listen and --peer-discovery need --peer-tls-dir (a directory with "
        "ca.crt, tls.crt and tls.key): nodes talk to each other only over mutual TLS");
  }
  if (flags.tls_optional && absl::IsNotFound(host.Stat(flags.tls_dir + "/ca.crt").status())) {
    spdlog::warn(
        "copies between nodes are off: {} holds no ca.crt (with the DaemonSet, create the "
        "Secret ditto-peer-tls and restart the pods; docs/kubernetes.md)",
        flags.tls_dir);
    return std::nullopt;
  }
  std::vector<peer::PeerAddress> addresses;
  for (const auto& text : flags.peers) {
    ASSIGN_OR_RETURN(auto address, peer::ParsePeerFlag(text));
    addresses.push_back(std::move(address));
  }
  ASSIGN_OR_RETURN(auto map, peer::PeerMap::Make(node_id, std::move(addresses)));
  peer::TransferOptions options;
  if (kubernetes) {
    peer::KubernetesPeersOptions discovery;
    discovery.peer_port = flags.port;
    if (discovery.peer_port == 0 && !flags.listen.empty()) {
      ASSIGN_OR_RETURN(auto listen, peer::ParseHostPort(flags.listen, "--peer-listen"));
      discovery.peer_port = listen.port;
    }
    if (discovery.peer_port == 0) {
      return absl::InvalidArgumentError(
          "--peer-discovery=kubernetes needs the port the other nodes serve on: give "
          "--peer-port or --peer-listen");
    }
    ASSIGN_OR_RETURN(auto config, kube::InClusterConfig(host));
    ASSIGN_OR_RETURN(auto api, kube::MakeKubernetesApi(host, std::move(config)));
    auto nodes = std::make_shared<peer::KubernetesPeers>(std::move(api), std::move(map),
                                                         std::move(discovery));
    // Listed once now so that a missing permission shows at start; dittod
    // serves its own volumes whatever the answer, and lists again when a
    // copy needs it.
    auto listed = nodes->Refresh();
    if (listed.ok()) {
      spdlog::info("peer discovery: {} other node(s) listed", *listed);
    } else {
      spdlog::error("peer discovery: cannot list the Nodes now: {}",
                    std::string(listed.status().message()));
    }
    options.peers = std::move(nodes);
  } else {
    options.peers = std::make_shared<peer::StaticPeerDirectory>(std::move(map));
  }
  ASSIGN_OR_RETURN(options.tls, peer::LoadTlsFiles(host, flags.tls_dir, node_id));
  if (!flags.max_rate.empty()) {
    auto rate = ParseQuantity(flags.max_rate);
    if (!rate.ok() || *rate <= 0) {
      return absl::InvalidArgumentError(fmt::format(
          "--peer-max-rate {}: give bytes per second as a positive quantity (e.g. 100Mi)",
          flags.max_rate));
    }
    options.max_bytes_per_second = static_cast<uint64_t>(*rate);
  }
  return options;
}

StatusOr<std::unique_ptr<PeerServer>> PeerServer::Start(const std::string& listen,
                                                        const peer::TransferOptions& options,
                                                        pool::Pool& pool) {
  ASSIGN_OR_RETURN(auto address, peer::ParseHostPort(listen, "--peer-listen"));
  std::unique_ptr<PeerServer> server(new PeerServer());
  server->service_ = std::make_unique<peer::ImageService>(pool, options.peers);
  grpc::ServerBuilder builder;
  peer::ConfigurePeerServer(builder);
  builder.AddListeningPort(address.Target(), peer::MakeServerCredentials(options.tls),
                           &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(fmt::format(
        "cannot serve the node-to-node service on {} (is the address this node's and the port "
        "free?)",
        listen));
  }
  return server;
}

PeerServer::~PeerServer() {
  if (server_) server_->Shutdown();
}

void PeerServer::Shutdown(std::chrono::system_clock::time_point deadline) {
  if (server_) server_->Shutdown(deadline);
}

}  // namespace ditto
