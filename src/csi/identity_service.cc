#include "csi/identity_service.h"

#include "csi/serve.h"

#ifndef DITTO_VERSION
#define DITTO_VERSION "0.0.0"
#endif

namespace ditto::csi {
namespace {
namespace pb = ::csi::v1;
constexpr char kService[] = "Identity";
}  // namespace

grpc::Status IdentityService::GetPluginInfo(grpc::ServerContext*, const pb::GetPluginInfoRequest*,
                                            pb::GetPluginInfoResponse* response) {
  return Serve(context_.observer, kService, "GetPluginInfo", "", [&]() -> Status {
    response->set_name(context_.options.driver_name);
    response->set_vendor_version(DITTO_VERSION);
    return absl::OkStatus();
  });
}

grpc::Status IdentityService::GetPluginCapabilities(grpc::ServerContext*,
                                                    const pb::GetPluginCapabilitiesRequest*,
                                                    pb::GetPluginCapabilitiesResponse* response) {
  return Serve(context_.observer, kService, "GetPluginCapabilities", "", [&]() -> Status {
    // The same set whatever the mode: the spec wants the plugin "as a whole".
    for (auto type : {pb::PluginCapability::Service::CONTROLLER_SERVICE,
                      pb::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS,
                      pb::PluginCapability::Service::GROUP_CONTROLLER_SERVICE,
                      pb::PluginCapability::Service::SNAPSHOT_METADATA_SERVICE}) {
      response->add_capabilities()->mutable_service()->set_type(type);
    }
    for (auto type : {pb::PluginCapability::VolumeExpansion::ONLINE,
                      pb::PluginCapability::VolumeExpansion::OFFLINE}) {
      response->add_capabilities()->mutable_volume_expansion()->set_type(type);
    }
    return absl::OkStatus();
  });
}

grpc::Status IdentityService::Probe(grpc::ServerContext*, const pb::ProbeRequest*,
                                    pb::ProbeResponse* response) {
  return Serve(context_.observer, kService, "Probe", "", [&]() -> Status {
    if (!ready_()) {
      return absl::FailedPreconditionError(
          "the pool or its catalog is not usable; see the dittod log for the cause");
    }
    response->mutable_ready()->set_value(true);
    return absl::OkStatus();
  });
}

}  // namespace ditto::csi
