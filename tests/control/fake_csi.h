// A fake CSI driver for control-plane tests: Identity, Controller, Node and
// GroupController services over in-memory volumes and snapshots, served on
// an in-process gRPC channel, with switches to drop capabilities or fail
// CreateVolume.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "csi.grpc.pb.h"

namespace ditto::control::testing {

struct FakeState {
  std::mutex mutex;
  std::string name = "ditto.csi.dev";
  bool clone_capability = true;
  std::string fail_create;  // non-empty: CreateVolume fails INVALID_ARGUMENT with this
  std::map<std::string, csi::v1::Volume> volumes;  // by request name
  std::map<std::string, csi::v1::Snapshot> snapshots;
  bool group_capability = true;
  std::map<std::string, csi::v1::VolumeGroupSnapshot> group_snapshots;  // by group ID
  // "GROUP-ID SNAP-ID,SNAP-ID" per DeleteVolumeGroupSnapshot call.
  std::vector<std::string> deleted_group_snapshots;
  std::vector<csi::v1::CreateVolumeRequest> create_requests;
  std::vector<std::string> deleted_volumes;
  std::vector<std::string> calls;  // "NodeStageVolume vol-1", ...
};

class FakeCsiServer {
 public:
  FakeCsiServer();
  ~FakeCsiServer();
  std::shared_ptr<grpc::Channel> Channel();
  FakeState& state() { return *state_; }

 private:
  std::shared_ptr<FakeState> state_;
  std::unique_ptr<grpc::Service> identity_, controller_, node_, group_controller_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace ditto::control::testing
