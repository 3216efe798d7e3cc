// A client channel to a gRPC server in the same process (dittoctl's embedded
// driver, tests), and the server-side half that goes with it.
//
// Under ThreadSanitizer (scripts/tsan) both halves also tell TSan what gRPC
// guarantees for every call: what the client did before it sent the request
// happens before the handler runs, and what the handler did happens before
// the client has the answer. gRPC hands calls between its threads with
// absl::Mutex and atomics inside Debian's uninstrumented libraries, which TSan
// cannot see; without this, every test that shares memory between a client
// and a handler in one process would report those hand-offs as data races.
// The ordering is per call (keyed by the call's ClientContext), so two
// handlers are never ordered by it. In other builds both halves do nothing
// beyond Server::InProcessChannel.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <vector>

namespace ditto::csi {

// server.InProcessChannel(), with the client half of the call ordering.
std::shared_ptr<grpc::Channel> InProcessChannel(grpc::Server& server);

// Appends the server half of the call ordering to `creators` (nothing unless
// built with ThreadSanitizer). Servers reached through InProcessChannel
// register it with ServerBuilder::experimental().SetInterceptorCreators().
void AddCallOrderingInterceptor(
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>& creators);

}  // namespace ditto::csi
