// dittod's node-to-node side: the --peer* flags turned into the driver's
// peer options, and the server of the Peer service on --peer-listen.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "csi/driver.h"
#include "host/host.h"
#include "peer/image_service.h"

namespace ditto {

struct PeerFlags {
  std::string listen;               // --peer-listen HOST:PORT; "" = not served
  std::vector<std::string> peers;   // --peer NODE=HOST:PORT
  std::string tls_dir;              // --peer-tls-dir
  std::string max_rate;             // --peer-max-rate, a quantity per second ("" = unbounded)
  std::string discovery = "static"; // --peer-discovery: static (--peer only) or kubernetes
  int port = 0;                     // --peer-port (kubernetes); 0: the port of --peer-listen
  bool tls_optional = false;        // --peer-tls-optional
};

// The driver's peer options for node `node_id`, or nullopt when no --peer*
// flag is given, or --peer-tls-optional is and --peer-tls-dir holds no
// ca.crt (logged). InvalidArgument for a malformed or inconsistent set
// (--peer-tls-dir is required with the others); FailedPrecondition when the
// certificates cannot be read or, with --peer-discovery=kubernetes, dittod
// does not run in a pod.
StatusOr<std::optional<peer::TransferOptions>> PeerOptionsFromFlags(host::Host& host,
                                                                    const PeerFlags& flags,
                                                                    const std::string& node_id);

// Serves the Peer service over `pool` on --peer-listen with mutual TLS.
class PeerServer {
 public:
  static StatusOr<std::unique_ptr<PeerServer>> Start(const std::string& listen,
                                                     const peer::TransferOptions& options,
                                                     pool::Pool& pool);
  ~PeerServer();
  // Stops taking calls; waits for those in flight up to `deadline`.
  void Shutdown(std::chrono::system_clock::time_point deadline);
  int port() const { return port_; }

 private:
  PeerServer() = default;
  std::unique_ptr<peer::ImageService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace ditto
