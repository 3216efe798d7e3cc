// A dittod child process serving a pool on a unix socket, for benchmarks:
// started with fork+execv (its log goes to a file), ready once Probe answers,
// stopped with SIGTERM to its own PID (SIGKILL after a grace period) and
// reaped, also from the destructor.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace ditto::bench {

struct DittodOptions {
  std::string binary;      // path to dittod
  std::string socket;      // absolute path of the socket to create
  std::string pool_dir;    // --pool
  std::string pool_size;   // --pool-size ("" = pool must exist)
  std::string node_id = "bench-node";
  std::string log_file;    // stdout+stderr of the daemon
  std::string log_level = "info";
  std::string metrics_address;  // --metrics-address ("" = none)
};

class DittodProcess {
 public:
  // Starts dittod and waits (up to 60 s, asking every 10 ms) until
  // Identity.Probe reports ready; dies with the tail of the log when it does not.
  static std::unique_ptr<DittodProcess> Start(const DittodOptions& options);
  ~DittodProcess();
  DittodProcess(const DittodProcess&) = delete;
  DittodProcess& operator=(const DittodProcess&) = delete;

  // A new channel with its own connection (no subchannel sharing), so that
  // concurrent clients really are separate clients.
  std::shared_ptr<grpc::Channel> NewChannel() const;
  pid_t pid() const { return pid_; }
  const DittodOptions& options() const { return options_; }
  // SIGTERM, wait up to 30 s, then SIGKILL; reaps. Idempotent.
  void Stop();

 private:
  explicit DittodProcess(DittodOptions options) : options_(std::move(options)) {}

  DittodOptions options_;
  pid_t pid_ = -1;
};

}  // namespace ditto::bench
