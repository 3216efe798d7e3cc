#include "csi/rpc_observer.h"

#include "common/status.h"
#include "spdlog/spdlog.h"

namespace ditto::csi {

void LoggingRpcObserver::OnRpc(const RpcEvent& event) {
  double ms = std::chrono::duration<double, std::milli>(event.duration).count();
  if (event.code == grpc::StatusCode::OK) {
    spdlog::info("rpc {}.{} {}{}code=OK {:.1f}ms", event.service, event.method, event.subject,
                 event.subject.empty() ? "" : " ", ms);
  } else {
    spdlog::warn("rpc {}.{} {}{}code={} {:.1f}ms: {}", event.service, event.method, event.subject,
                 event.subject.empty() ? "" : " ", ditto::StatusCodeName(static_cast<int>(event.code)), ms, event.message);
  }
}

void RpcObservers::Add(std::shared_ptr<RpcObserver> observer) {
  std::lock_guard<std::mutex> lock(mutex_);
  observers_.push_back(std::move(observer));
}

void RpcObservers::OnRpc(const RpcEvent& event) {
  std::vector<std::shared_ptr<RpcObserver>> copy;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    copy = observers_;
  }
  for (const auto& observer : copy) observer->OnRpc(event);
}

}  // namespace ditto::csi
