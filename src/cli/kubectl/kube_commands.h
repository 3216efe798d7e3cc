// kubectl-style commands of dittoctl on the embedded control plane:
// apply, get, describe, delete, patch, edit, create namespace, wait, mount,
// unmount, attach, detach, completion.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/session.h"

namespace ditto::cli {

// Adds the commands to `app`. `flags` (filled by the global options) must
// outlive parsing; each callback sets `*exit_code` (0 ok, 1 error).
void RegisterKubeCommands(CLI::App& app, GlobalFlags* flags, int* exit_code);

// The parts RegisterKubeCommands adds, each verb from its own file.
void RegisterApplyCommand(CLI::App& app, GlobalFlags* flags, int* exit_code);
// create namespace
void RegisterCreateCommand(CLI::App& app, GlobalFlags* flags, int* exit_code);
void RegisterGetCommand(CLI::App& app, GlobalFlags* flags, int* exit_code);
void RegisterDescribeCommand(CLI::App& app, GlobalFlags* flags, int* exit_code);
void RegisterDeleteCommand(CLI::App& app, GlobalFlags* flags, int* exit_code);
void RegisterWaitCommand(CLI::App& app, GlobalFlags* flags, int* exit_code);
// mount, unmount, attach, detach
void RegisterNodeCommands(CLI::App& app, GlobalFlags* flags, int* exit_code);
void RegisterPatchCommands(CLI::App& app, GlobalFlags* flags, int* exit_code);
void RegisterCompletionCommand(CLI::App& app, int* exit_code);

}  // namespace ditto::cli
