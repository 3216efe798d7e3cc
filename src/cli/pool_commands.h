// `dittoctl pool|volume|snapshot ...`: operator commands on a pool directory,
// straight on the pool library (no daemon needed).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/session.h"

namespace ditto::cli {

// Adds the pool, volume and snapshot subcommands to `app`. Each subcommand's
// callback runs the command and sets `*exit_code` (0 on success). Without
// --pool they use the pool of --state (`flags`, filled by the global
// options), whose objects also name volumes (pvc/NAME, PV names).
void RegisterPoolCommands(CLI::App& app, const GlobalFlags* flags, int* exit_code);

}  // namespace ditto::cli
