// Requests gRPC cannot decode get INVALID_ARGUMENT with a message, not
// gRPC's INTERNAL with an empty one.
//
// proto3 `string` fields must hold UTF-8. A request carrying other bytes in a
// string (or bytes that are not a protobuf message at all) fails to parse in
// gRPC's generated code before any service method runs, and gRPC answers
// INTERNAL with the message's (empty) initialization error. The bytes are not
// reachable from a service method, so the check cannot run earlier; this
// server interceptor sees that the received message failed to decode
// (POST_RECV_MESSAGE without a message) and rewrites the status it sends.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <vector>

namespace ditto::csi {

// The message sent for an undecodable request to `method` ("/csi.v1.Node/...").
std::string UndecodableRequestMessage(std::string_view method);

// One factory per server: pass to
// ServerBuilder::experimental().SetInterceptorCreators().
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeUndecodableRequestInterceptorFactory();

}  // namespace ditto::csi
