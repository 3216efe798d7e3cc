// `dittoctl snapshot diff BASE TARGET` and `dittoctl snapshot allocated NAME`:
// changed-block metadata of VolumeSnapshots, through the driver's CSI
// SnapshotMetadata service (GetMetadataDelta / GetMetadataAllocated).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/session.h"

namespace ditto::cli {

// Adds `diff` and `allocated` to the `snapshot` subcommand of `app` (made by
// RegisterPoolCommands, which must run first).
void RegisterSnapshotMetadataCommands(CLI::App& app, GlobalFlags* flags, int* exit_code);

}  // namespace ditto::cli
