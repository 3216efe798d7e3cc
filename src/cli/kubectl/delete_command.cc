// `dittoctl delete`: by name, file, --all or selector; Terminating while a
// finalizer holds an object.
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

struct DeleteFlags {
  std::vector<std::string> files;
  bool all = false;
  std::string selector;
  bool ignore_not_found = false;
  std::string dry_run;
};

struct Victim {
  const KindInfo* kind = nullptr;
  std::string ns;
  std::string name;
};

// Kept in one piece: the forms of delete (names, -f, --all, -l, with or without --dry-run) gather
// victims into one list that one loop deletes and reports, as kubectl prints them.
Status RunDelete(const GlobalFlags& flags, const CommonFlags& common, const DeleteFlags& del,
                 const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(DryRun dry_run, ParseDryRun(del.dry_run));
  ASSIGN_OR_RETURN(auto selector, control::LabelSelector::Parse(del.selector));
  std::vector<Victim> victims;
  std::vector<Target> sweeps;  // --all / -l: every matching object of the kind
  host::LinuxHost host;
  if (!del.files.empty()) {
    if (!args.empty()) {
      return absl::InvalidArgumentError(
          "give either -f FILE or KIND NAME, not both (dittoctl delete -f pvc.yaml)");
    }
    ASSIGN_OR_RETURN(auto documents, ReadDocuments(host, del.files));
    for (const auto& document : documents) {
      ASSIGN_OR_RETURN(const KindInfo* kind, ResolveKindOrError(control::Kind(document.object)));
      std::string ns = control::Namespace(document.object);
      if (ns.empty()) ns = Namespace(common);
      victims.push_back({kind, kind->namespaced ? ns : "", control::Name(document.object)});
    }
  } else {
    ASSIGN_OR_RETURN(auto targets, ParseTargets(args));
    for (const Target& target : targets) {
      if (target.names.empty()) {
        if (!del.all && selector.empty()) {
          return absl::InvalidArgumentError(fmt::format(
              "resource(s) were provided, but no name was specified; name them (dittoctl delete "
              "{} NAME), or use --all or -l KEY=VALUE",
              target.kind->singular));
        }
        sweeps.push_back(target);
        continue;
      }
      if (del.all || !selector.empty()) {
        return absl::InvalidArgumentError(
            "names cannot be given with --all or -l; drop the names or the flag");
      }
      for (const std::string& name : target.names) {
        victims.push_back({target.kind, target.kind->namespaced ? Namespace(common) : "", name});
      }
    }
  }
  // A dry run only reads: no pool is opened or created for it.
  ASSIGN_OR_RETURN(auto session, Session::Open(flags, dry_run == DryRun::kNone ? Access::kWrite
                                                                                : Access::kRead));
  if (!session->has_store()) {
    if (!sweeps.empty()) std::cerr << "No resources found\n";
    for (const Victim& victim : victims) {
      if (!del.ignore_not_found) {
        PrintError(absl::NotFoundError(
            fmt::format("{} \"{}\" not found", victim.kind->Resource(), victim.name)));
      }
    }
    return victims.empty() || del.ignore_not_found ? absl::OkStatus() : absl::CancelledError("");
  }
  for (const Target& target : sweeps) {
    std::string ns = target.kind->namespaced ? Namespace(common) : "";
    std::vector<Json> objects;
    RETURN_IF_ERROR(session->store().Transact([&](control::StoreTxn& txn) -> Status {
      ASSIGN_OR_RETURN(objects, txn.List(std::string(target.kind->kind), ns, common.all_namespaces));
      return absl::OkStatus();
    }));
    size_t before = victims.size();
    for (const Json& object : objects) {
      if (!selector.MatchesObject(object)) continue;
      victims.push_back({target.kind, control::Namespace(object), control::Name(object)});
    }
    if (victims.size() == before) {
      std::cerr << (target.kind->namespaced && !common.all_namespaces
                        ? fmt::format("No resources found in {} namespace.\n", ns)
                        : std::string("No resources found\n"));
    }
  }
  Status result;
  for (const Victim& victim : victims) {
    if (dry_run != DryRun::kNone) {
      ASSIGN_OR_RETURN(auto object, control::GetObject(session->store(),
                                                       std::string(victim.kind->kind), victim.ns,
                                                       victim.name));
      if (!object.has_value()) {
        if (del.ignore_not_found) continue;
        PrintError(absl::NotFoundError(
            fmt::format("{} \"{}\" not found", victim.kind->Resource(), victim.name)));
        result = absl::CancelledError("");
        continue;
      }
      std::cout << fmt::format("{} \"{}\" deleted{}\n", victim.kind->singular, victim.name,
                               DryRunSuffix(dry_run));
      continue;
    }
    auto held = session->plane().Delete(std::string(victim.kind->kind), victim.ns, victim.name);
    if (!held.ok()) {
      if (absl::IsNotFound(held.status()) && del.ignore_not_found) continue;
      PrintError(held.status());
      result = absl::CancelledError("");
      continue;
    }
    std::cout << fmt::format("{} \"{}\" deleted\n", victim.kind->singular, victim.name);
    if (!held->empty()) {
      std::cerr << fmt::format("{} \"{}\" is Terminating: {}\n", victim.kind->singular,
                               victim.name, *held);
    }
  }
  return result;
}

}  // namespace

void RegisterDeleteCommand(CLI::App& app, GlobalFlags* flags, int* exit_code) {
  auto* sub =
      app.add_subcommand("delete", "Delete objects (Terminating while a finalizer holds them)");
  auto common = std::make_shared<CommonFlags>();
  auto del = std::make_shared<DeleteFlags>();
  auto args = std::make_shared<std::vector<std::string>>();
  sub->add_option("args", *args, "KIND NAME... | KIND/NAME... | KIND --all | KIND -l SELECTOR");
  sub->add_option("-f,--filename", del->files, "Delete the objects in these files");
  sub->add_flag("--all", del->all, "Delete every object of the kind in the namespace");
  sub->add_option("-l,--selector", del->selector, "Delete the objects matching this selector");
  sub->add_flag("--ignore-not-found", del->ignore_not_found,
                "Treat a missing object as deleted (exit 0)");
  sub->add_option("--dry-run", del->dry_run, "client|server: print what would be deleted");
  sub->add_flag("-A,--all-namespaces", common->all_namespaces, "With --all or -l: everywhere");
  AddNamespace(sub, common.get());
  sub->callback([=] { Finish(RunDelete(*flags, *common, *del, *args), exit_code); });
}

}  // namespace ditto::cli
