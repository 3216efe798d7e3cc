// Checks the node RPCs share: whether a volume serves a capability, and
// whether a path the CO gave leads through a symbolic link.
#pragma once

#include <string>
#include <string_view>

#include "catalog/records.h"
#include "common/status.h"
#include "csi/validation.h"
#include "host/host.h"

namespace ditto::csi {

// How many mounts stacked at one path unmount and unstage undo at most.
inline constexpr int kMaxStackedMounts = 8;

// The directory holding `path` ("/" for a top-level entry).
std::string ParentOf(const std::string& path);

// Where a capability asks to be used: the code the node RPCs return when the
// volume cannot serve it ("exceeds capabilities").
Status CheckNodeCapability(const Capability& capability, const catalog::VolumeRecord& volume);

// Staging and target paths come from the CO, which creates them. A symbolic
// link in one would make the driver create directories, files or mounts
// wherever it points, outside the CO's directories: refuse such a path. The
// deepest existing ancestor is checked, as the driver creates the rest.
Status RequireNoSymlinks(host::Host& host, const std::string& path, std::string_view field);

}  // namespace ditto::csi
