// A hook on every CSI RPC the driver serves: method, the volume/snapshot IDs
// or name it concerns, its status code and how long it took. dittod logs each
// RPC through it; a metrics endpoint can count and time RPCs with another
// observer. Observers never see request bodies, so secrets and mount flags
// cannot leak through them.
#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ditto::csi {

struct RpcEvent {
  std::string_view service;  // "Identity", "Controller" or "Node"
  std::string_view method;   // "CreateVolume", ...
  std::string_view subject;  // "volume_id=vol-... name=pvc-..." (may be empty)
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string_view message;  // error message ("" when OK)
  std::chrono::nanoseconds duration{0};
};

// Called once per finished RPC, from the gRPC thread that served it: must be
// thread-safe and quick.
class RpcObserver {
 public:
  virtual ~RpcObserver() = default;
  virtual void OnRpc(const RpcEvent& event) = 0;
};

// One spdlog line per RPC: info when OK, warn otherwise.
class LoggingRpcObserver : public RpcObserver {
 public:
  void OnRpc(const RpcEvent& event) override;
};

// Fans an event out to several observers.
class RpcObservers : public RpcObserver {
 public:
  void Add(std::shared_ptr<RpcObserver> observer);
  void OnRpc(const RpcEvent& event) override;

 private:
  std::mutex mutex_;
  std::vector<std::shared_ptr<RpcObserver>> observers_;  // guarded by mutex_
};

}  // namespace ditto::csi
