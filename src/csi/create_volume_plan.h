// CreateVolume in two steps: what the request asks for, decided without the
// pool (this file), then carried out by ControllerService::DoCreateVolume
// (look the source up, take the locks, answer a repeated request, create).
// The checks run in the order the RPC reports them: request shape, then the
// source as the pool records it, then topology and capacity.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/records.h"
#include "common/status.h"
#include "csi.pb.h"
#include "csi/validation.h"
#include "pool/pool.h"

namespace ditto::csi {

// "SINGLE_NODE_WRITER, ... or SINGLE_NODE_MULTI_WRITER", for messages.
std::string SupportedModes();
// The access types a set of capabilities asks for, as a catalog mode hint:
// "block", "mount", or "" for a volume used both ways.
std::string ModeHintOf(const std::vector<Capability>& capabilities);
// Whether a volume recorded with `mode_hint` serves a capability.
bool ModeServes(std::string_view mode_hint, const Capability& capability);
// "block" or "mount".
std::string AccessTypeName(bool block);

// What the pool knows of a content source: its size and how its data was
// used (mode hint and filesystem, "" when unknown).
struct SourceFacts {
  std::optional<uint64_t> bytes;
  std::string mode;
  std::string fs_type;
};

struct CreateVolumePlan {
  // From the request alone (ParseCreateVolumeRequest).
  std::string name;
  std::vector<Capability> capabilities;
  std::string requested_fs;  // from the capabilities or parameters, "" when neither says
  std::string mode_hint;
  VolumeParameters parameters;  // with mutable_parameters applied
  pool::SourceKind source_kind = pool::SourceKind::kNone;
  std::string source_id;
  std::optional<pb::CapacityRange> capacity_range;
  // With the source's facts (CompleteCreateVolumePlan).
  std::string fs_type;  // the filesystem to make; "" for a block volume
  uint64_t capacity_bytes = 0;

  // "volume", "snapshot" or "", as the catalog records a source kind.
  std::string SourceKindName() const;
  // The lock names: the name exclusively, the source shared.
  std::vector<std::string> SharedLocks() const;
  pool::CreateVolumeSpec Spec() const;
};

// Checks the request's shape: name, capabilities (supported access modes, one
// filesystem), parameters and mutable parameters, and the source's kind and
// ID format. InvalidArgument or NotFound (an ID this driver did not make).
StatusOr<CreateVolumePlan> ParseCreateVolumeRequest(const pb::CreateVolumeRequest& request);

// Completes `plan` with what the pool knows of its source: the source must
// serve the capabilities and hold a compatible filesystem; the node must
// satisfy the accessibility requirements; the capacity is resolved against
// the source's size.
Status CompleteCreateVolumePlan(const pb::CreateVolumeRequest& request, const SourceFacts& source,
                                std::string_view node_id, CreateVolumePlan& plan);

// Why the ready volume `existing` (same name) does not satisfy `plan`, as the
// CSI notion of a compatible repeated request; "" when it does.
std::string IncompatibilityWith(const CreateVolumePlan& plan,
                                const catalog::VolumeRecord& existing);

}  // namespace ditto::csi
