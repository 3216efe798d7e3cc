#include "csi/undecodable_request.h"

#include <string>

#include "fmt/format.h"

namespace ditto::csi {
namespace {

using grpc::experimental::InterceptionHookPoints;

class UndecodableRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit UndecodableRequestInterceptor(std::string method) : method_(std::move(method)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      undecodable_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        undecodable_) {
      grpc::Status sent = methods->GetSendStatus();
      // Only gRPC's own decoding failure: a service never answered.
      if (sent.error_code() == grpc::StatusCode::INTERNAL) {
        methods->ModifySendStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                               UndecodableRequestMessage(method_)));
      }
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  bool undecodable_ = false;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new UndecodableRequestInterceptor(info->method() ? info->method() : "");
  }
};

}  // namespace

std::string UndecodableRequestMessage(std::string_view method) {
  return fmt::format(
      "the {} request could not be decoded: a string field is not valid UTF-8 (CSI strings are "
      "proto3 strings, which must be UTF-8) or the bytes are not a protobuf message of that "
      "method; send IDs, names, paths and parameters as UTF-8 text",
      method.empty() ? std::string_view("CSI") : method);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeUndecodableRequestInterceptorFactory() {
  return std::make_unique<Factory>();
}

}  // namespace ditto::csi
