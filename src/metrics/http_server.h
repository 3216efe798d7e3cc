// The HTTP endpoint of --metrics-address: GET /metrics (Prometheus text
// format) and GET /healthz (200 "ok" while the readiness callback returns
// true, else 503), served by cpp-httplib on its own threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"
#include "metrics/metrics.h"

namespace httplib {
class Server;
}

namespace ditto::metrics {

struct ListenAddress {
  std::string host;  // "0.0.0.0", "127.0.0.1", "::" ...
  int port = 0;      // 0: any free port
};

// Parses "HOST:PORT", "[V6HOST]:PORT" or ":PORT" (all interfaces).
// InvalidArgument with the expected form otherwise.
StatusOr<ListenAddress> ParseListenAddress(std::string_view address);

class MetricsServer {
 public:
  // Binds `address` and starts serving. `metrics` must outlive the server;
  // `ready` is called on every /healthz request (an empty function counts as
  // ready). Unavailable when the address cannot be bound (in use, bad host).
  static StatusOr<std::unique_ptr<MetricsServer>> Start(const ListenAddress& address,
                                                        const Metrics& metrics,
                                                        std::function<bool()> ready);
  // Stops accepting, waits for the serving thread.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound port (the chosen one when asked for port 0).
  int port() const { return port_; }
  void Stop();

 private:
  MetricsServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> finished_{false};  // the accept loop has returned
  int port_ = 0;
};

}  // namespace ditto::metrics
