// A small synchronous CSI client for benchmarks: one method per RPC used,
// each dying with the gRPC code and message when the call fails.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "csi.grpc.pb.h"

namespace ditto::bench {

enum class Source { kNone, kVolume, kSnapshot };

class CsiClient {
 public:
  explicit CsiClient(std::shared_ptr<grpc::Channel> channel);

  // A single-node-writer mount volume (ext4 unless fs_type says otherwise);
  // returns its volume_id. capacity 0: no capacity_range (the source's size).
  std::string CreateVolume(const std::string& name, uint64_t capacity, Source source = Source::kNone,
                           const std::string& source_id = "", const std::string& fs_type = "");
  void DeleteVolume(const std::string& volume_id);
  // A no-op round trip: what any RPC costs before it does anything.
  void ControllerGetCapabilities();
  // One page of ListVolumes; returns the number of entries and sets
  // `next_token` ("" after the last page).
  int ListVolumes(int max_entries, const std::string& starting_token, std::string* next_token);
  std::string CreateSnapshot(const std::string& name, const std::string& source_volume_id);
  void DeleteSnapshot(const std::string& snapshot_id);

  void NodeStage(const std::string& volume_id, const std::string& staging_path,
                 const std::string& fs_type = "ext4");
  void NodePublish(const std::string& volume_id, const std::string& staging_path,
                   const std::string& target_path, const std::string& fs_type = "ext4");
  void NodeUnpublish(const std::string& volume_id, const std::string& target_path);
  void NodeUnstage(const std::string& volume_id, const std::string& staging_path);

 private:
  std::unique_ptr<csi::v1::Controller::Stub> controller_;
  std::unique_ptr<csi::v1::Node::Stub> node_;
};

}  // namespace ditto::bench
