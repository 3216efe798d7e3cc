// `dittoctl pool|volume|snapshot ...`: operator commands on a pool directory,
// straight on the pool library (no daemon needed).
#pragma once

#include <CLI/CLI.hpp>

namespace ditto::cli {

// Adds the pool, volume and snapshot subcommands to `app`. Each subcommand's
// callback runs the command and sets `*exit_code` (0 on success).
void RegisterPoolCommands(CLI::App& app, int* exit_code);

}  // namespace ditto::cli
