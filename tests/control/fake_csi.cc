#include "fake_csi.h"

#include "csi/in_process_channel.h"
#include "fmt/format.h"

namespace ditto::control::testing {
namespace {

using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;
namespace v1 = ::csi::v1;

class Identity : public v1::Identity::Service {
 public:
  explicit Identity(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}
  Status GetPluginInfo(ServerContext*, const v1::GetPluginInfoRequest*,
                       v1::GetPluginInfoResponse* response) override {
    response->set_name(state_->name);
    response->set_vendor_version("test");
    return Status::OK;
  }
  Status GetPluginCapabilities(ServerContext*, const v1::GetPluginCapabilitiesRequest*,
                               v1::GetPluginCapabilitiesResponse* response) override {
    response->add_capabilities()->mutable_service()->set_type(
        v1::PluginCapability::Service::CONTROLLER_SERVICE);
    return Status::OK;
  }
  Status Probe(ServerContext*, const v1::ProbeRequest*, v1::ProbeResponse*) override {
    return Status::OK;
  }

 private:
  std::shared_ptr<FakeState> state_;
};

class Controller : public v1::Controller::Service {
 public:
  explicit Controller(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}

  Status ControllerGetCapabilities(ServerContext*, const v1::ControllerGetCapabilitiesRequest*,
                                   v1::ControllerGetCapabilitiesResponse* response) override {
    std::lock_guard lock(state_->mutex);
    std::vector<v1::ControllerServiceCapability::RPC::Type> types = {
        v1::ControllerServiceCapability::RPC::CREATE_DELETE_VOLUME,
        v1::ControllerServiceCapability::RPC::CREATE_DELETE_SNAPSHOT,
        v1::ControllerServiceCapability::RPC::EXPAND_VOLUME};
    if (state_->clone_capability)
      types.push_back(v1::ControllerServiceCapability::RPC::CLONE_VOLUME);
    for (auto type : types) response->add_capabilities()->mutable_rpc()->set_type(type);
    return Status::OK;
  }

  Status CreateVolume(ServerContext*, const v1::CreateVolumeRequest* request,
                      v1::CreateVolumeResponse* response) override {
    std::lock_guard lock(state_->mutex);
    state_->create_requests.push_back(*request);
    if (!state_->fail_create.empty()) {
      return Status(StatusCode::INVALID_ARGUMENT, state_->fail_create);
    }
    auto it = state_->volumes.find(request->name());
    if (it == state_->volumes.end()) {
      v1::Volume volume;
      volume.set_volume_id(fmt::format("vol-{}", state_->volumes.size() + 1));
      volume.set_capacity_bytes(request->capacity_range().required_bytes());
      if (request->has_volume_content_source()) {
        *volume.mutable_content_source() = request->volume_content_source();
      }
      it = state_->volumes.emplace(request->name(), volume).first;
    }
    *response->mutable_volume() = it->second;
    return Status::OK;
  }

  Status DeleteVolume(ServerContext*, const v1::DeleteVolumeRequest* request,
                      v1::DeleteVolumeResponse*) override {
    std::lock_guard lock(state_->mutex);
    state_->deleted_volumes.push_back(request->volume_id());
    for (auto it = state_->volumes.begin(); it != state_->volumes.end(); ++it) {
      if (it->second.volume_id() == request->volume_id()) {
        state_->volumes.erase(it);
        break;
      }
    }
    return Status::OK;
  }

  Status ControllerExpandVolume(ServerContext*, const v1::ControllerExpandVolumeRequest* request,
                                v1::ControllerExpandVolumeResponse* response) override {
    response->set_capacity_bytes(request->capacity_range().required_bytes());
    response->set_node_expansion_required(true);
    return Status::OK;
  }

  Status CreateSnapshot(ServerContext*, const v1::CreateSnapshotRequest* request,
                        v1::CreateSnapshotResponse* response) override {
    std::lock_guard lock(state_->mutex);
    v1::Snapshot& snapshot = state_->snapshots[request->name()];
    snapshot.set_snapshot_id("snap-" + request->name());
    snapshot.set_source_volume_id(request->source_volume_id());
    snapshot.set_size_bytes(int64_t{1} << 30);
    snapshot.set_ready_to_use(true);
    snapshot.mutable_creation_time()->set_seconds(1700000000);
    *response->mutable_snapshot() = snapshot;
    return Status::OK;
  }

  Status DeleteSnapshot(ServerContext*, const v1::DeleteSnapshotRequest*,
                        v1::DeleteSnapshotResponse*) override {
    return Status::OK;
  }

 private:
  std::shared_ptr<FakeState> state_;
};

// Groups named "group-NAME" with members "snap-NAME-I", ready at once.
class GroupController : public v1::GroupController::Service {
 public:
  explicit GroupController(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}
  Status GroupControllerGetCapabilities(
      ServerContext*, const v1::GroupControllerGetCapabilitiesRequest*,
      v1::GroupControllerGetCapabilitiesResponse* response) override {
    std::lock_guard lock(state_->mutex);
    if (state_->group_capability) {
      response->add_capabilities()->mutable_rpc()->set_type(
          v1::GroupControllerServiceCapability::RPC::CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT);
    }
    return Status::OK;
  }
  Status CreateVolumeGroupSnapshot(ServerContext*,
                                   const v1::CreateVolumeGroupSnapshotRequest* request,
                                   v1::CreateVolumeGroupSnapshotResponse* response) override {
    std::lock_guard lock(state_->mutex);
    std::string id = "group-" + request->name();
    v1::VolumeGroupSnapshot& group = state_->group_snapshots[id];
    if (group.group_snapshot_id().empty()) {
      group.set_group_snapshot_id(id);
      group.mutable_creation_time()->set_seconds(1700000000);
      group.set_ready_to_use(true);
      for (int i = 0; i < request->source_volume_ids_size(); ++i) {
        v1::Snapshot* snapshot = group.add_snapshots();
        snapshot->set_snapshot_id(fmt::format("snap-{}-{}", request->name(), i));
        snapshot->set_source_volume_id(request->source_volume_ids(i));
        snapshot->set_size_bytes(int64_t{1} << 30);
        snapshot->set_ready_to_use(true);
        snapshot->set_group_snapshot_id(id);
        snapshot->mutable_creation_time()->set_seconds(1700000000);
      }
    }
    *response->mutable_group_snapshot() = group;
    return Status::OK;
  }
  Status GetVolumeGroupSnapshot(ServerContext*, const v1::GetVolumeGroupSnapshotRequest* request,
                                v1::GetVolumeGroupSnapshotResponse* response) override {
    std::lock_guard lock(state_->mutex);
    auto it = state_->group_snapshots.find(request->group_snapshot_id());
    if (it == state_->group_snapshots.end()) {
      return Status(StatusCode::NOT_FOUND, "group snapshot " + request->group_snapshot_id());
    }
    if (request->snapshot_ids_size() != it->second.snapshots_size()) {
      return Status(StatusCode::INVALID_ARGUMENT, "snapshot_ids does not match the group");
    }
    *response->mutable_group_snapshot() = it->second;
    return Status::OK;
  }
  Status DeleteVolumeGroupSnapshot(ServerContext*,
                                   const v1::DeleteVolumeGroupSnapshotRequest* request,
                                   v1::DeleteVolumeGroupSnapshotResponse*) override {
    std::lock_guard lock(state_->mutex);
    std::string ids;
    for (const std::string& id : request->snapshot_ids()) ids += (ids.empty() ? "" : ",") + id;
    state_->deleted_group_snapshots.push_back(request->group_snapshot_id() + " " + ids);
    state_->group_snapshots.erase(request->group_snapshot_id());
    return Status::OK;
  }

 private:
  std::shared_ptr<FakeState> state_;
};

class Node : public v1::Node::Service {
 public:
  explicit Node(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}
  Status NodeGetCapabilities(ServerContext*, const v1::NodeGetCapabilitiesRequest*,
                             v1::NodeGetCapabilitiesResponse* response) override {
    response->add_capabilities()->mutable_rpc()->set_type(
        v1::NodeServiceCapability::RPC::STAGE_UNSTAGE_VOLUME);
    return Status::OK;
  }
  Status NodeGetInfo(ServerContext*, const v1::NodeGetInfoRequest*,
                     v1::NodeGetInfoResponse* response) override {
    response->set_node_id("node-1");
    (*response->mutable_accessible_topology()->mutable_segments())["topology.ditto.csi.dev/node"] =
        "node-1";
    return Status::OK;
  }
  Status NodeStageVolume(ServerContext*, const v1::NodeStageVolumeRequest* request,
                         v1::NodeStageVolumeResponse*) override {
    Record("NodeStageVolume " + request->volume_id());
    return Status::OK;
  }
  Status NodeUnstageVolume(ServerContext*, const v1::NodeUnstageVolumeRequest* request,
                           v1::NodeUnstageVolumeResponse*) override {
    Record("NodeUnstageVolume " + request->volume_id());
    return Status::OK;
  }
  Status NodePublishVolume(ServerContext*, const v1::NodePublishVolumeRequest* request,
                           v1::NodePublishVolumeResponse*) override {
    Record("NodePublishVolume " + request->volume_id() + " " + request->target_path());
    return Status::OK;
  }
  Status NodeUnpublishVolume(ServerContext*, const v1::NodeUnpublishVolumeRequest* request,
                             v1::NodeUnpublishVolumeResponse*) override {
    Record("NodeUnpublishVolume " + request->volume_id());
    return Status::OK;
  }

 private:
  void Record(std::string call) {
    std::lock_guard lock(state_->mutex);
    state_->calls.push_back(std::move(call));
  }
  std::shared_ptr<FakeState> state_;
};

}  // namespace

FakeCsiServer::FakeCsiServer() : state_(std::make_shared<FakeState>()) {
  identity_ = std::make_unique<Identity>(state_);
  controller_ = std::make_unique<Controller>(state_);
  node_ = std::make_unique<Node>(state_);
  group_controller_ = std::make_unique<GroupController>(state_);
  grpc::ServerBuilder builder;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  csi::AddCallOrderingInterceptor(creators);
  builder.experimental().SetInterceptorCreators(std::move(creators));
  builder.RegisterService(identity_.get());
  builder.RegisterService(controller_.get());
  builder.RegisterService(node_.get());
  builder.RegisterService(group_controller_.get());
  server_ = builder.BuildAndStart();
}

FakeCsiServer::~FakeCsiServer() { server_->Shutdown(); }

std::shared_ptr<grpc::Channel> FakeCsiServer::Channel() {
  return csi::InProcessChannel(*server_);
}

}  // namespace ditto::control::testing
