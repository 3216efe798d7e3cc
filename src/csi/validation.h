// Request validation for the CSI services: capabilities, capacity ranges,
// parameters, node paths, mount flags, topology and pagination tokens. Pure
// functions (no I/O), so every rule is unit-tested without root.
//
// Codes follow the CSI spec: a malformed or missing field is INVALID_ARGUMENT;
// a bad pagination token is ABORTED. Which code an unsupported access mode
// gets differs per RPC, so callers decide that with IsSupportedAccessMode().
#pragma once

#include <google/protobuf/map.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/records.h"
#include "common/status.h"
#include "csi.pb.h"

namespace ditto::csi {

namespace pb = ::csi::v1;
using AccessMode = pb::VolumeCapability::AccessMode::Mode;
using ProtoMap = google::protobuf::Map<std::string, std::string>;

inline constexpr char kDefaultFsType[] = "ext4";
inline constexpr uint64_t kDefaultCapacityBytes = 1ull << 30;  // 1 GiB
// Volume sizes are whole 4 KiB blocks: what every filesystem and loop device
// handles without a partial last block.
inline constexpr uint64_t kCapacityAlignment = 4096;

// Parameter keys of CreateVolume (StorageClass.parameters).
inline constexpr char kParamThick[] = "thick";
inline constexpr char kParamFsType[] = "fsType";
// Also a key of CreateSnapshot and CreateVolumeGroupSnapshot (the snapshot
// classes): how a copy of a volume in use is made. "filesystem" (the default)
// freezes the source's filesystem around the copy; "crash" freezes nothing,
// and the copy is what a power cut at that instant would leave.
inline constexpr char kParamConsistency[] = "consistency";
inline constexpr char kConsistencyFilesystem[] = "filesystem";
inline constexpr char kConsistencyCrash[] = "crash";
// Keys with this prefix are set by the Kubernetes sidecars (PVC/PV names,
// secret references); they are accepted and kept as metadata.
inline constexpr char kKubernetesParamPrefix[] = "csi.storage.k8s.io/";

// Volume modes as stored in the catalog's mode_hint.
inline constexpr char kModeMount[] = "mount";
inline constexpr char kModeBlock[] = "block";

// One VolumeCapability after validation.
struct Capability {
  bool block = false;
  std::string fs_type;                   // mount only; "" when not given
  std::vector<std::string> mount_flags;  // mount only; validated
  AccessMode mode = pb::VolumeCapability::AccessMode::UNKNOWN;
};

// Checks one capability's shape: access type (block or mount) and access mode
// present, fs_type supported, mount flags allowed, no volume_mount_group (the
// driver does not offer VOLUME_MOUNT_GROUP). InvalidArgument naming `field`.
StatusOr<Capability> ParseCapability(const pb::VolumeCapability& capability,
                                     std::string_view field);
// ParseCapability over a REQUIRED repeated field (at least one element).
StatusOr<std::vector<Capability>> ParseCapabilities(
    const google::protobuf::RepeatedPtrField<pb::VolumeCapability>& capabilities,
    std::string_view field);

// ditto volumes live on one node: the SINGLE_NODE_* modes are supported,
// MULTI_NODE_* are not.
bool IsSupportedAccessMode(AccessMode mode);
// Modes that allow several NodePublishVolume targets on the node at once.
bool AllowsSeveralPublishTargets(AccessMode mode);
bool IsReadOnlyMode(AccessMode mode);
std::string AccessModeName(AccessMode mode);

// fs_type allowlist: "ext4" and "xfs".
Status ValidateFsType(std::string_view fs_type, std::string_view field = "fs_type");

// Mount flags: each one an allowlisted word ("noatime", "nodev", ...) or an
// allowlisted key=value ("commit=30"); no commas, spaces, quotes or shell
// metacharacters. The message never repeats a flag's value (mount flags may
// be sensitive).
Status ValidateMountFlags(const std::vector<std::string>& flags);

// How validated mount flags reach mount(2): "ro"/"rw" decide read_only;
// per-mount VFS flags (noatime, nodev, nosuid, noexec, sync, ...) are MS_* bits
// that mount(2)'s data string cannot carry; the rest is filesystem data.
struct MountFlags {
  bool read_only = false;
  std::vector<std::string> vfs;
  std::string data;  // comma-separated filesystem options
};
MountFlags SplitMountFlags(const std::vector<std::string>& flags);

// Staging and target paths: absolute, normalised (no ".", "..", "//" or
// trailing "/"), not "/", not under /proc, /sys or /dev, no control
// characters, at most 4096 bytes. InvalidArgument naming `field`.
Status ValidateNodePath(std::string_view path, std::string_view field);
// For RPCs that look a volume up at a path it should already be at
// (NodeGetVolumeStats, NodeExpandVolume): a relative path names no place a
// volume can be, so it is NOT_FOUND, the code the spec gives for "volume
// does not exist at volume_path" (csi-sanity sends "some/path" and expects
// it); every other rule of ValidateNodePath still answers INVALID_ARGUMENT.
Status ValidateLookupPath(std::string_view path, std::string_view field);

// CapacityRange rules shared by CreateVolume and the expand RPCs: no negative
// values; limit (when set) not below required. InvalidArgument.
Status ValidateCapacityRange(const pb::CapacityRange& range, std::string_view field);
uint64_t AlignCapacity(uint64_t bytes);

// The size of a new volume. Without a source: required rounded up to whole
// blocks, or the default (1 GiB, capped by limit) when only a limit or nothing
// is given. With a source of `source_bytes`: the source's size, or larger when
// required asks for more; a range that only allows less than the source is
// OUT_OF_RANGE. `range` may be null (absent). Validates the range first.
StatusOr<uint64_t> ResolveCapacity(const pb::CapacityRange* range,
                                   std::optional<uint64_t> source_bytes);

// CreateVolume parameters after validation.
struct VolumeParameters {
  bool thick = false;
  std::string fs_type;  // from "fsType", "" when absent
  bool crash_consistent = false;  // "consistency": "crash" (clones)
  // What the catalog stores (and idempotency compares): every given key.
  std::map<std::string, std::string> all;
};
// Unknown keys are InvalidArgument listing the known ones.
StatusOr<VolumeParameters> ParseVolumeParameters(const ProtoMap& parameters);
// Mutable parameters (CreateVolume.mutable_parameters, ControllerModifyVolume,
// a VolumeAttributesClass's parameters): "provisioning" = "thin" | "thick".
inline constexpr char kMutableProvisioning[] = "provisioning";
struct MutableParameters {
  std::optional<bool> thick;  // unset: leave the volume as it is
};
// Unknown keys, immutable keys (those of parameters) and bad values are
// InvalidArgument naming the mutable keys.
StatusOr<MutableParameters> ParseMutableParameters(const ProtoMap& parameters);
// CreateSnapshot's and CreateVolumeGroupSnapshot's: "consistency" (and
// Kubernetes keys); any other key is InvalidArgument.
struct SnapshotParameters {
  bool crash_consistent = false;
};
StatusOr<SnapshotParameters> ParseSnapshotParameters(const ProtoMap& parameters);

// Whether a volume on `node_id` satisfies `requirement` (requisite topologies;
// with none, any node does).
bool TopologyAllows(const pb::TopologyRequirement& requirement, std::string_view node_id);

// Pagination: an opaque token naming the last entry returned, ordered by
// (created_at_ns, id), so deleting that entry does not break the next page.
struct PageToken {
  int64_t created_at_ns = 0;
  std::string id;
};
std::string EncodePageToken(const PageToken& token);
// Aborted when `token` was not made by EncodePageToken with an ID that
// `valid_id` accepts.
StatusOr<PageToken> DecodePageToken(std::string_view token, bool (*valid_id)(std::string_view));
// Whether an entry (created_at_ns, id) comes after `token`.
bool IsAfter(const PageToken& token, int64_t created_at_ns, std::string_view id);
// Where the catalog resumes listing after `token` (none: from the start).
std::optional<catalog::ListPosition> ListPositionOf(const std::optional<PageToken>& token);
// Sorts records (with created_at_ns and id) in page order.
template <typename Record>
void SortForPaging(std::vector<Record>& records) {
  std::sort(records.begin(), records.end(), [](const Record& a, const Record& b) {
    return a.created_at_ns != b.created_at_ns ? a.created_at_ns < b.created_at_ns : a.id < b.id;
  });
}

}  // namespace ditto::csi
