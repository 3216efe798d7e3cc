// Runs the body of one RPC: times it, turns its Status into the gRPC status
// (grpc_status.h), and reports it to the driver's RpcObserver.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "csi/grpc_status.h"
#include "csi/rpc_observer.h"
#include "fmt/format.h"

namespace ditto::csi {

// "key=value key=value" for the non-empty values, each shown printable and
// cut to 128 bytes. Only IDs, names and paths go here: never secrets or mount
// flags.
std::string Subject(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

template <typename Body>
grpc::Status Serve(RpcObserver& observer, std::string_view service, std::string_view method,
                   const std::string& subject, Body&& body) {
  auto start = std::chrono::steady_clock::now();
  Status status;
  try {
    status = body();
  } catch (const std::exception& e) {
    // Nothing below throws by design; a bad_alloc or a protobuf check must
    // still become an answer rather than a dead daemon.
    status = absl::InternalError(fmt::format("{} failed unexpectedly: {}", method, e.what()));
  }
  grpc::Status result = ToGrpcStatus(status);
  RpcEvent event;
  event.service = service;
  event.method = method;
  event.subject = subject;
  event.code = result.error_code();
  std::string message = result.error_message();
  event.message = message;
  event.duration = std::chrono::steady_clock::now() - start;
  observer.OnRpc(event);
  return result;
}

}  // namespace ditto::csi
