// Mutual TLS for the node-to-node service: every node has a certificate
// signed by one CA whose name (subject alternative name, else common name)
// is its node ID. The server asks for and verifies the client's certificate;
// the client checks that the server's certificate names the node it dialled.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "host/host.h"

namespace ditto::peer {

// PEM contents.
struct TlsFiles {
  std::string ca;    // ca.crt
  std::string cert;  // tls.crt
  std::string key;   // tls.key
};

// Reads DIR/ca.crt, DIR/tls.crt and DIR/tls.key (dittod --peer-tls-dir);
// without DIR/tls.crt, DIR/<node_id>.crt and DIR/<node_id>.key (one Secret
// holding every node's pair, mounted on all of them). FailedPrecondition
// naming the file that is missing or not PEM.
StatusOr<TlsFiles> LoadTlsFiles(host::Host& host, const std::string& dir,
                                const std::string& node_id);

// Server side: requires a client certificate signed by the CA.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsFiles& tls);
// Client side: presents this node's certificate, trusts the CA only.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsFiles& tls);
// Channel arguments for dialling node `node_id`: its certificate must name
// it; keepalive pings so that a cut link fails a stream within seconds.
grpc::ChannelArguments PeerChannelArguments(const std::string& node_id);
// Server arguments that accept those pings.
void ConfigurePeerServer(grpc::ServerBuilder& builder);

// The names the verified client certificate of a call carries (SAN DNS
// names and the common name); empty without one.
std::vector<std::string> ClientNames(const grpc::ServerContext& context);

}  // namespace ditto::peer
