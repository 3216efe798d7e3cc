#include "csi/rpc_observer.h"

#include "spdlog/spdlog.h"

namespace ditto::csi {

std::string_view StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN_CODE";
  }
}

void LoggingRpcObserver::OnRpc(const RpcEvent& event) {
  double ms = std::chrono::duration<double, std::milli>(event.duration).count();
  if (event.code == grpc::StatusCode::OK) {
    spdlog::info("rpc {}.{} {}{}code=OK {:.1f}ms", event.service, event.method, event.subject,
                 event.subject.empty() ? "" : " ", ms);
  } else {
    spdlog::warn("rpc {}.{} {}{}code={} {:.1f}ms: {}", event.service, event.method, event.subject,
                 event.subject.empty() ? "" : " ", StatusCodeName(event.code), ms, event.message);
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
