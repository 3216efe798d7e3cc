#include "csi/in_process_channel.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include "fmt/format.h"
#endif

namespace ditto::csi {

#if defined(__SANITIZE_THREAD__)
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;

// "<pid>:<address of the call's ClientContext, hex>": the server orders only
// calls from its own process (over a socket the address means nothing).
constexpr char kCallKey[] = "ditto-tsan-call";

bool AnyOf(InterceptorBatchMethods* methods, std::initializer_list<InterceptionHookPoints> points) {
  for (InterceptionHookPoints point : points) {
    if (methods->QueryInterceptionHookPoint(point)) return true;
  }
  return false;
}

class ClientOrdering final : public grpc::experimental::Interceptor {
 public:
  explicit ClientOrdering(void* call) : call_(call) {}

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(
          kCallKey, fmt::format("{}:{:x}", getpid(), reinterpret_cast<uintptr_t>(call_)));
    }
    if (AnyOf(methods, {InterceptionHookPoints::PRE_SEND_INITIAL_METADATA,
                        InterceptionHookPoints::PRE_SEND_MESSAGE,
                        InterceptionHookPoints::PRE_SEND_CLOSE})) {
      __tsan_release(call_);
    }
    if (AnyOf(methods, {InterceptionHookPoints::POST_RECV_INITIAL_METADATA,
                        InterceptionHookPoints::POST_RECV_MESSAGE,
                        InterceptionHookPoints::POST_RECV_STATUS})) {
      __tsan_acquire(call_);
    }
    methods->Proceed();
  }

 private:
  void* call_;
};

class ClientFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new ClientOrdering(info->client_context());
  }
};

class ServerOrdering final : public grpc::experimental::Interceptor {
 public:
  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      call_ = CallOf(*methods->GetRecvInitialMetadata());
    }
    if (call_ != nullptr) {
      if (AnyOf(methods, {InterceptionHookPoints::POST_RECV_INITIAL_METADATA,
                          InterceptionHookPoints::POST_RECV_MESSAGE,
                          InterceptionHookPoints::POST_RECV_CLOSE})) {
        __tsan_acquire(call_);
      }
      if (AnyOf(methods, {InterceptionHookPoints::PRE_SEND_INITIAL_METADATA,
                          InterceptionHookPoints::PRE_SEND_MESSAGE,
                          InterceptionHookPoints::PRE_SEND_STATUS})) {
        __tsan_release(call_);
      }
    }
    methods->Proceed();
  }

 private:
  static void* CallOf(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
    auto found = metadata.find(kCallKey);
    if (found == metadata.end()) return nullptr;
    std::string_view value(found->second.data(), found->second.size());
    size_t colon = value.find(':');
    if (colon == std::string_view::npos) return nullptr;
    long pid = 0;
    uintptr_t address = 0;
    auto parsed_pid = std::from_chars(value.data(), value.data() + colon, pid);
    auto parsed_address =
        std::from_chars(value.data() + colon + 1, value.data() + value.size(), address, 16);
    if (parsed_pid.ec != std::errc() || parsed_address.ec != std::errc() || pid != getpid()) {
      return nullptr;
    }
    return reinterpret_cast<void*>(address);
  }

  void* call_ = nullptr;
};

class ServerFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new ServerOrdering();
  }
};

}  // namespace

std::shared_ptr<grpc::Channel> InProcessChannel(grpc::Server& server) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<ClientFactory>());
  return server.experimental().InProcessChannelWithInterceptors(grpc::ChannelArguments(),
                                                                std::move(creators));
}

void AddCallOrderingInterceptor(
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>& creators) {
  creators.push_back(std::make_unique<ServerFactory>());
}

#else

std::shared_ptr<grpc::Channel> InProcessChannel(grpc::Server& server) {
  return server.InProcessChannel(grpc::ChannelArguments());
}

void AddCallOrderingInterceptor(
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>&) {}

#endif

}  // namespace ditto::csi
