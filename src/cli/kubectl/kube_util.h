// Pieces the kubectl-style commands share: kubectl's error printing, the
// namespace flags, KIND/NAME arguments, reading -f files, durations, and
// how a command's Status becomes its exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "cli/session.h"
#include "control/api/kinds.h"
#include "control/api/object.h"
#include "control/api/yaml_io.h"

namespace ditto::cli {

// "Error from server (NotFound): ..." for what the API server would refuse,
// "error: ..." for the rest.
void PrintError(const Status& status);

// Opens the session and runs the controllers once, as every kubectl-style
// command starts.
StatusOr<std::unique_ptr<Session>> OpenSession(const GlobalFlags& flags,
                                               Access access = Access::kWrite);

// Sets `*exit_code` from `status` (printing it unless Cancelled, which means
// the command already printed its errors).
void Finish(const Status& status, int* exit_code);

struct CommonFlags {
  std::string ns;
  bool all_namespaces = false;
};

// -n, else "default".
std::string Namespace(const CommonFlags& common);
CLI::Option* AddNamespace(CLI::App* sub, CommonFlags* common);

StatusOr<const control::KindInfo*> ResolveKindOrError(const std::string& text);

struct Target {
  const control::KindInfo* kind = nullptr;
  std::vector<std::string> names;  // empty: all
};

// "pvc", "pvc NAME...", "pvc,pv", "pvc/NAME pv/NAME".
StatusOr<std::vector<Target>> ParseTargets(const std::vector<std::string>& args);

// The documents of -f FILE|DIR|- arguments.
StatusOr<std::vector<control::Document>> ReadDocuments(host::Host& host,
                                                       const std::vector<std::string>& files);

// "30s", "2m", "1h", "500ms"; `flag` names the option in errors.
StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text,
                                                  const std::string& flag = "--timeout");

// --dry-run: "" / "none", "client" or "server".
enum class DryRun { kNone, kClient, kServer };
StatusOr<DryRun> ParseDryRun(const std::string& text);
// " (dry run)" / " (server dry run)" / "".
std::string DryRunSuffix(DryRun dry_run);

}  // namespace ditto::cli
