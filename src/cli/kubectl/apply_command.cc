// `dittoctl apply -f` (all-or-nothing) and `dittoctl create namespace`.
#include "cli/kubectl/kube_commands.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/kubectl/kube_util.h"
#include "cli/kubectl/jsonpath.h"
#include "cli/kubectl/printers.h"
#include "common/clock.h"
#include "control/api/kinds.h"
#include "control/api/label_selector.h"
#include "control/apiserver/apply.h"
#include "control/controllers/context.h"
#include "control/kubelet/node.h"
#include "fmt/format.h"
#include "host/linux_host.h"

namespace ditto::cli {
namespace {

using control::Json;
using control::KindInfo;

Status RunApply(const GlobalFlags& flags, const CommonFlags& common,
                const std::vector<std::string>& files, const std::string& dry_run_text) {
  if (files.empty()) return absl::InvalidArgumentError("must specify one of -f");
  ASSIGN_OR_RETURN(DryRun dry_run, ParseDryRun(dry_run_text));
  host::LinuxHost host;
  ASSIGN_OR_RETURN(auto documents, ReadDocuments(host, files));
  control::ApplyOptions options;
  options.default_namespace = Namespace(common);
  options.namespace_flag = !common.ns.empty();
  options.dry_run = dry_run != DryRun::kNone;
  // Validate before opening the driver: bad input never touches anything.
  if (documents.empty()) return absl::InvalidArgumentError("no objects passed to apply");
  std::vector<control::ApplyResult> results;
  if (options.dry_run) {
    // Checked against the store; nothing created, no pool opened.
    ASSIGN_OR_RETURN(auto session, Session::Open(flags, Access::kRead));
    if (!session->has_store()) {
      return absl::FailedPreconditionError(fmt::format(
          "--dry-run checks objects against the state in {}, which holds nothing yet; apply "
          "without --dry-run (or dittoctl create namespace default) to set it up",
          flags.state_dir));
    }
    ASSIGN_OR_RETURN(results, control::Apply(session->store(), documents, options));
  } else {
    ASSIGN_OR_RETURN(auto session, Session::Open(flags));
    ASSIGN_OR_RETURN(results, session->plane().Apply(documents, options));
  }
  for (const auto& result : results) {
    std::cout << result.ref << " " << control::ActionName(result.action)
              << DryRunSuffix(dry_run) << "\n";
    if (!result.note.empty()) std::cerr << "note: " << result.note << "\n";
  }
  return absl::OkStatus();
}

Status RunCreateNamespace(const GlobalFlags& flags, const std::string& name) {
  control::Document document;
  document.file = "<command line>";
  document.object = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
  ASSIGN_OR_RETURN(auto session, Session::Open(flags));
  control::ApplyOptions options;
  options.create_only = true;
  auto results = session->plane().Apply({document}, options);
  if (!results.ok()) {
    // Drop the "<command line>:" prefix: there is no file to point into.
    std::string message(results.status().message());
    std::string prefix = document.file + ": ";
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    return Status(results.status().code(), message);
  }
  std::cout << "namespace/" << name << " created\n";
  return absl::OkStatus();
}

}  // namespace

void RegisterApplyCommand(CLI::App& app, GlobalFlags* flags, int* exit_code) {
  auto* sub =
      app.add_subcommand("apply", "Apply objects from YAML files (all-or-nothing per call)");
  auto common = std::make_shared<CommonFlags>();
  auto files = std::make_shared<std::vector<std::string>>();
  auto dry_run = std::make_shared<std::string>();
  sub->add_option("-f,--filename", *files, "File, directory or - for stdin")->required();
  sub->add_option("--dry-run", *dry_run,
                  "client|server: check everything and print what would change, store nothing");
  AddNamespace(sub, common.get());
  sub->callback([=] { Finish(RunApply(*flags, *common, *files, *dry_run), exit_code); });
}

void RegisterCreateCommand(CLI::App& app, GlobalFlags* flags, int* exit_code) {
  auto* sub = app.add_subcommand("create", "Create an object");
  sub->require_subcommand(1);
  auto* ns = sub->add_subcommand("namespace", "Create a namespace")->alias("ns");
  auto name = std::make_shared<std::string>();
  ns->add_option("name", *name, "Namespace name")->required();
  ns->callback([=] { Finish(RunCreateNamespace(*flags, *name), exit_code); });
}

}  // namespace ditto::cli
