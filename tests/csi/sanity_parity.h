// Replays the cases of the upstream csi-sanity suite (kubernetes-csi/csi-test,
// pkg/sanity) against a real dittod: the same request shapes, in the suite's
// order, with the codes it asserts, and with its per-case setup and cleanup
// (which can fail a case on its own).
//
// The configuration mirrors what a user gives csi-sanity for a local driver:
//   csi-sanity --csi.endpoint=<dittod socket>
//     --csi.mountdir=<dir>/csi-mount --csi.stagingdir=<dir>/csi-staging
//     --csi.testvolumesize=67108864 --csi.testvolumeexpandsize=100663296
//     --csi.testvolumemutableparameters=<file with "provisioning: thick">
// (csi-sanity's 10 GiB default size needs a pool whose over-commit limit
// holds five such volumes at once (ListSnapshots makes five), and the thick
// mutable parameter a pool with 10 GiB free; its default paths are
// /tmp/csi-mount and /tmp/csi-staging, here under the workspace.)
//
// Every csi-sanity It of controller.go, node.go, identity.go and
// groupcontroller.go is replayed (sanity_parity_*_test.cc), even where an
// older test checks the same answer:
//   ListVolumes/ListSnapshots invalid starting_token -> ABORTED,
//   CreateVolume name/source/capacity rows, DeleteVolume of an unknown ID,
//   ValidateVolumeCapabilities NOT_FOUND, CreateSnapshot ALREADY_EXISTS:
//     also ConformanceTest.ControllerErrorTablesAndIdempotency;
//   NodeGetVolumeStats / NodeExpandVolume with volume_path "some/path"
//     -> NOT_FOUND, NodeUnpublishVolume of an unknown volume -> NOT_FOUND:
//     also ConformanceTest.NodeErrorTables;
//   ModifyVolume (empty ID, "non-existing-volume-id", XXX_FakeKey, no
//     mutable parameters) and CreateVolume with XXX_FakeKey:
//     also CsiV112Test.ModifyVolumeErrorTableAndCsiSanityCases;
//   GroupController capabilities: also CsiV112Test.CapabilitiesAdvertise...
// Not replayed: the ControllerPublishVolume, "volume lifecycle" and
// ControllerUnpublishVolume cases, which csi-sanity skips for a plugin
// without PUBLISH_UNPUBLISH_VOLUME (checked absent).
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "reliability/daemon_fixture.h"

namespace ditto::reliability::sanity {

using C = grpc::StatusCode;
constexpr int64_t kMiB = 1 << 20;

// csi-sanity's TestConfig fields the cases read.
struct SanityConfig {
  int64_t test_volume_size = 64 * kMiB;
  int64_t test_volume_expand_size = 96 * kMiB;
  std::map<std::string, std::string> test_volume_parameters;
  std::map<std::string, std::string> test_volume_mutable_parameters = {{"provisioning", "thick"}};
  int idempotent_count = 10;  // csi-sanity's default
};

// A unique suffix per run, as csi-sanity's UniqueString appends.
std::string UniqueString(const std::string& prefix);
// A name of exactly `length` characters that starts with `prefix` and ends
// with the unique suffix (csi-sanity's UniqueStringWithLength).
std::string UniqueStringWithLength(const std::string& prefix, size_t length);

class SanityTest : public DaemonTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // One csi-sanity It: its Setup (mkdir of the mount and staging
  // directories, which fails if they are left over), the body, the
  // Resources cleanup, and its Teardown (removal of both directories, which
  // must be empty by then).
  void It(const std::string& text, const std::function<void()>& body);

  // The Resources wrappers: what they create is cleaned up after the case.
  grpc::Status CreateVolume(const pb::CreateVolumeRequest& request,
                            pb::CreateVolumeResponse* response = nullptr);
  grpc::Status DeleteVolume(const pb::DeleteVolumeRequest& request);
  grpc::Status CreateSnapshot(const pb::CreateSnapshotRequest& request,
                              pb::CreateSnapshotResponse* response = nullptr);
  grpc::Status DeleteSnapshot(const pb::DeleteSnapshotRequest& request);
  pb::CreateVolumeResponse MustCreateVolume(const pb::CreateVolumeRequest& request);
  pb::CreateSnapshotResponse MustCreateSnapshot(const pb::CreateSnapshotRequest& request);
  // Creates a volume, then a snapshot of it named `snapshot_name`.
  pb::CreateSnapshotResponse MustCreateSnapshotFromVolumeRequest(
      const pb::CreateVolumeRequest& request, const std::string& snapshot_name);

  // csi-sanity's request makers.
  pb::VolumeCapability TestVolumeCapability(
      pb::VolumeCapability::AccessMode::Mode mode =
          pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER) const;
  pb::CreateVolumeRequest MakeCreateVolumeReq(const std::string& name) const;
  pb::CreateSnapshotRequest MakeCreateSnapshotReq(const std::string& name,
                                                  const std::string& source) const;
  pb::ControllerExpandVolumeRequest MakeExpandVolumeReq(const std::string& volume_id) const;
  pb::ControllerModifyVolumeRequest MakeModifyVolumeReq(const std::string& volume_id) const;

  // NodeGetInfo, expected to succeed with a node ID.
  pb::NodeGetInfoResponse NodeInfo();
  // The node's topology as csi-sanity passes it to CreateVolume.
  pb::TopologyRequirement RequisiteOf(const pb::NodeGetInfoResponse& info) const;

  // ControllerGetCapabilities / NodeGetCapabilities hold `type`.
  bool ControllerSupports(pb::ControllerServiceCapability::RPC::Type type);
  bool NodeSupports(pb::NodeServiceCapability::RPC::Type type);

  pb::Controller::Stub& controller() { return csi().controller(); }
  pb::Node::Stub& node() { return csi().node(); }
  pb::Identity::Stub& identity() { return csi().identity(); }
  pb::GroupController::Stub& groups() { return *groups_; }

  // Stub call with the client's deadline; the response may be omitted.
  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    Stub& stub, const Request& request, Response* response = nullptr) {
    Response ignored;
    return (stub.*method)(csi().Context().get(), request, response ? response : &ignored);
  }

  SanityConfig config_;
  // csi-sanity's sc.TargetPath and sc.StagingPath; the publish target is
  // TargetPath() + "/target".
  std::string mount_dir_;
  std::string staging_dir_;
  std::string Target() const { return mount_dir_ + "/target"; }

 private:
  void Cleanup();

  enum class Kind { kVolume, kSnapshot };
  // Registers `id` for cleanup after a successful create; forgets it after
  // a successful delete (the first entry: a twice-created snapshot stays
  // registered once more, as in csi-sanity).
  void Track(const grpc::Status& status, const std::string& id, Kind kind);
  void Untrack(const grpc::Status& status, const std::string& id);
  std::vector<std::pair<std::string, Kind>> resources_;
  std::unique_ptr<pb::GroupController::Stub> groups_;
};

// Whether `status` has `code`; the failure message names both codes and
// the status message.
::testing::AssertionResult HasCode(const grpc::Status& status, grpc::StatusCode code);
#define EXPECT_CODE(call, code) EXPECT_TRUE(::ditto::reliability::sanity::HasCode((call), code))
#define ASSERT_CODE_OK(call) \
  ASSERT_TRUE(::ditto::reliability::sanity::HasCode((call), grpc::StatusCode::OK))

}  // namespace ditto::reliability::sanity
