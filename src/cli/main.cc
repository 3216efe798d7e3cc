// dittoctl: kubectl-style commands on an embedded Kubernetes control plane
// (PVCs, PVs, StorageClasses, VolumeSnapshots, ...) driving the ditto CSI
// driver — in-process by default, or a running dittod via --endpoint — plus
// operator commands on pools (pool, volume, snapshot).
//
// Exit codes: 0 success, 1 an error (printed on stderr), 2 a bad command line.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/argv.h"
#include "cli/kubectl/kube_commands.h"
#include "cli/pool_commands.h"
#include "cli/session.h"
#include "cli/snapshot_metadata_commands.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

#ifndef DITTO_VERSION
#define DITTO_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  CLI::App app{"dittoctl: Kubernetes-style volume cloning on one machine, and ditto pool tools"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("dittoctl ") + DITTO_VERSION);
  ditto::cli::GlobalFlags flags;
  app.add_option("--state", flags.state_dir, "State directory (objects, embedded pool)")
      ->capture_default_str();
  app.add_option("--endpoint", flags.endpoints,
                 "CSI endpoint of a running dittod (unix:///path/csi.sock); repeat it for each "
                 "node to drive several (the first is the default node); default: in-process");
  app.add_option("--node-id", flags.node_id,
                 "Node id for the in-process driver (default: hostname)");
  app.add_option("--driver-name", flags.driver_name, "Driver name of the in-process driver")
      ->capture_default_str();
  app.add_option("--pool-size", flags.pool_size, "Size of the embedded pool when it is created")
      ->capture_default_str();
  app.add_flag("-v,--verbose", flags.verbose, "Log every CSI call of the in-process driver");
  app.fallthrough();

  int exit_code = 0;
  ditto::cli::RegisterKubeCommands(app, &flags, &exit_code);
  ditto::cli::RegisterPoolCommands(app, &flags, &exit_code);
  ditto::cli::RegisterSnapshotMetadataCommands(app, &flags, &exit_code);
  // The in-process driver logs through spdlog: keep stdout for command
  // output, and its per-RPC lines for -v (failures reach users as events).
  spdlog::set_default_logger(spdlog::stderr_color_mt("dittoctl"));
  spdlog::set_level(spdlog::level::err);
  app.parse_complete_callback(
      [&] { spdlog::set_level(flags.verbose ? spdlog::level::info : spdlog::level::err); });
  std::vector<std::string> args(argv + 1, argv + argc);
  args = ditto::cli::NormalizeShorthands(args);
  std::vector<std::string> verbs;
  for (const CLI::App* sub : app.get_subcommands({})) {
    verbs.push_back(sub->get_name());
    for (const std::string& alias : sub->get_aliases()) verbs.push_back(alias);
  }
  if (auto unknown = ditto::cli::UnknownVerbMessage(ditto::cli::FindVerb(args), verbs)) {
    std::cerr << *unknown << "\n";
    return 1;
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the words last first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
