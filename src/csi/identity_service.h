// CSI Identity: plugin name and version, plugin capabilities, readiness.
#pragma once

#include <functional>

#include "csi.grpc.pb.h"
#include "csi/driver_context.h"

namespace ditto::csi {

class IdentityService final : public ::csi::v1::Identity::Service {
 public:
  // `ready` answers Probe (the Driver's Ready()).
  IdentityService(DriverContext& context, std::function<bool()> ready)
      : context_(context), ready_(std::move(ready)) {}

  grpc::Status GetPluginInfo(grpc::ServerContext* context,
                             const ::csi::v1::GetPluginInfoRequest* request,
                             ::csi::v1::GetPluginInfoResponse* response) override;
  grpc::Status GetPluginCapabilities(grpc::ServerContext* context,
                                     const ::csi::v1::GetPluginCapabilitiesRequest* request,
                                     ::csi::v1::GetPluginCapabilitiesResponse* response) override;
  grpc::Status Probe(grpc::ServerContext* context, const ::csi::v1::ProbeRequest* request,
                     ::csi::v1::ProbeResponse* response) override;

 private:
  DriverContext& context_;
  std::function<bool()> ready_;
};

}  // namespace ditto::csi
