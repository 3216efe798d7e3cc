// kubectl-style commands of dittoctl on the embedded control plane:
// apply, get, describe, delete, create namespace, wait, mount, unmount,
// attach, detach.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/session.h"

namespace ditto::cli {

// Adds the commands to `app`. `flags` (filled by the global options) must
// outlive parsing; each callback sets `*exit_code` (0 ok, 1 error).
void RegisterKubeCommands(CLI::App& app, GlobalFlags* flags, int* exit_code);

}  // namespace ditto::cli
