#include "metrics/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <charconv>
#include <chrono>
#include <utility>

#include "fmt/format.h"

namespace ditto::metrics {

StatusOr<ListenAddress> ParseListenAddress(std::string_view address) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        fmt::format("metrics address \"{}\" {}; use HOST:PORT, [IPV6]:PORT or :PORT (e.g. "
                    "0.0.0.0:9810)",
                    address, why));
  };
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return invalid("has no port");
  std::string_view host = address.substr(0, colon);
  std::string_view port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return invalid("has an IPv6 host without brackets");
  }
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port < 0 || port > 65535) {
    return invalid("has no valid port (0-65535)");
  }
  ListenAddress result;
  result.host = host.empty() ? "0.0.0.0" : std::string(host);
  result.port = port;
  return result;
}

StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const ListenAddress& address,
                                                              const Metrics& metrics,
                                                              std::function<bool()> ready) {
  std::unique_ptr<MetricsServer> self(new MetricsServer());
  self->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *self->server_;
  // Scrapes and probes are rare and small: two workers are plenty and keep
  // the daemon's thread count predictable.
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  // httplib's default sets SO_REUSEPORT, which would let a second daemon
  // share a busy port silently; SO_REUSEADDR alone still allows a quick
  // restart while old connections linger in TIME_WAIT.
  server.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  server.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics.Render(), kTextFormatContentType);
  });
  server.Get("/healthz",
             [ready = std::move(ready)](const httplib::Request&, httplib::Response& response) {
               bool ok = !ready || ready();
               response.status = ok ? 200 : 503;
               response.set_content(ok ? "ok\n" : "not ready: the pool or catalog is not usable\n",
                                    "text/plain; charset=utf-8");
             });

  if (address.port == 0) {
    self->port_ = server.bind_to_any_port(address.host);
    if (self->port_ < 0) self->port_ = 0;
  } else if (server.bind_to_port(address.host, address.port)) {
    self->port_ = address.port;
  }
  if (self->port_ <= 0) {
    return absl::UnavailableError(
        fmt::format("cannot listen for metrics on {}:{} (address in use or not local); choose "
                    "another --metrics-address",
                    address.host, address.port));
  }
  // The socket is bound and listening already; connections made before the
  // thread starts accepting wait in the backlog.
  self->thread_ = std::thread([&server, finished = &self->finished_] {
    server.listen_after_bind();
    finished->store(true);
  });
  // httplib's stop() only takes effect once the accept loop runs; wait for it
  // so that a Stop() right after Start() cannot leave the thread blocked.
  while (!server.is_running() && !self->finished_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return self;
}

void MetricsServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

MetricsServer::~MetricsServer() { Stop(); }

}  // namespace ditto::metrics
