// Volume and snapshot IDs: generated, never derived from user input, and
// validated against a strict pattern at every entry point, so an ID can be
// joined into a path without traversal.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ditto {

// "vol-" / "snap-" followed by 32 lowercase hex digits (128 random bits).
std::string NewVolumeId();
std::string NewSnapshotId();

// IDs that say where they were made: the 8 hex digits of `node_tag` (see
// NodeTag) and 24 random ones, so that another node finds the one holding a
// volume or snapshot from its ID alone. An empty tag: all 32 random.
std::string NewVolumeId(std::string_view node_tag);
std::string NewSnapshotId(std::string_view node_tag);

// The tag of a node: the first 32 bits of SHA-256 of its ID, as 8 lowercase
// hex digits.
std::string NodeTag(std::string_view node_id);
// The first 8 hex digits of a volume or snapshot ID ("" for anything else).
// IDs made before tags (or by a node of no known tag) name no node.
std::string TagOfId(std::string_view id);

// Volume group snapshots: "group-" and 32 hex digits.
std::string NewGroupSnapshotId();
bool IsValidGroupSnapshotId(std::string_view id);

bool IsValidVolumeId(std::string_view id);
bool IsValidSnapshotId(std::string_view id);

// NotFound-free validation for entry points: InvalidArgument with a message
// naming the field when `id` is malformed.
Status ValidateVolumeId(std::string_view id, std::string_view field = "volume_id");
Status ValidateSnapshotId(std::string_view id, std::string_view field = "snapshot_id");

// Names of volumes and snapshots (the CSI "name", e.g. pvc-<uid>): 1..128
// printable ASCII characters, no control characters.
Status ValidateName(std::string_view name, std::string_view field = "name");

}  // namespace ditto
