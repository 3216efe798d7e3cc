#include "cli/kube_commands.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/kube_util.h"
#include "common/clock.h"
#include "control/apiserver/apply.h"
#include "control/controllers/context.h"
#include "cli/kubectl/jsonpath.h"
#include "control/api/kinds.h"
#include "control/api/label_selector.h"
#include "control/kubelet/node.h"
#include "cli/kubectl/printers.h"
#include "fmt/format.h"
#include "host/linux_host.h"

namespace ditto::cli {
namespace {

using control::Json;
using control::KindInfo;

StatusOr<std::unique_ptr<Session>> OpenSession(const GlobalFlags& flags,
                                               Access access = Access::kWrite) {
  ASSIGN_OR_RETURN(auto session, Session::Open(flags, access));
  if (session->has_plane()) RETURN_IF_ERROR(session->plane().Reconcile());
  return session;
}

// ---- apply / create ----

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

// ---- describe ----

Status RunDescribe(const GlobalFlags& flags, const CommonFlags& common,
                   const std::vector<std::string>& args, const std::string& selector_text) {
  ASSIGN_OR_RETURN(auto targets, ParseTargets(args));
  ASSIGN_OR_RETURN(auto selector, control::LabelSelector::Parse(selector_text));
  ASSIGN_OR_RETURN(auto session, OpenSession(flags, Access::kRead));
  std::string ns = Namespace(common);
  if (!session->has_store()) {
    for (const Target& target : targets) {
      for (const std::string& name : target.names) {
        return absl::NotFoundError(
            fmt::format("{} \"{}\" not found", target.kind->Resource(), name));
      }
    }
    std::cerr << fmt::format("No resources found in {} namespace.\n", ns);
    return absl::OkStatus();
  }
  control::Store& store = session->store();
  bool first = true;
  for (const Target& target : targets) {
    std::string kind(target.kind->kind);
    std::string object_ns = target.kind->namespaced ? ns : "";
    std::vector<Json> objects;
    RETURN_IF_ERROR(store.Transact([&](control::StoreTxn& txn) -> Status {
      if (target.names.empty()) {
        ASSIGN_OR_RETURN(auto all, txn.List(kind, object_ns, common.all_namespaces));
        for (Json& object : all) {
          if (selector.MatchesObject(object)) objects.push_back(std::move(object));
        }
      }
      for (const std::string& name : target.names) {
        ASSIGN_OR_RETURN(std::optional<Json> object, txn.Get(kind, object_ns, name));
        if (!object.has_value()) {
          return absl::NotFoundError(
              fmt::format("{} \"{}\" not found", target.kind->Resource(), name));
        }
        objects.push_back(std::move(*object));
      }
      return absl::OkStatus();
    }));
    for (const Json& object : objects) {
      std::vector<control::EventRecord> events;
      std::vector<control::MountRecord> mounts;
      RETURN_IF_ERROR(store.Transact([&](control::StoreTxn& txn) -> Status {
        ASSIGN_OR_RETURN(auto all, txn.ListEvents(control::Namespace(object), false, kind,
                                                  control::Name(object)));
        for (auto& event : all) {
          if (event.involved_uid == control::Uid(object)) events.push_back(std::move(event));
        }
        ASSIGN_OR_RETURN(auto all_mounts, txn.ListMounts());
        for (auto& mount : all_mounts) {
          if (kind == control::kPersistentVolumeClaim &&
              mount.namespace_name == control::Namespace(object) &&
              mount.claim_name == control::Name(object)) {
            mounts.push_back(std::move(mount));
          }
        }
        return absl::OkStatus();
      }));
      if (!first) std::cout << "\n\n";
      first = false;
      std::cout << control::Describe(object, events, mounts, NowNanos());
    }
  }
  if (first && !selector.empty()) std::cerr << fmt::format("No resources found in {} namespace.\n", ns);
  return absl::OkStatus();
}

// ---- delete ----

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

// ---- wait ----

struct WaitFlags {
  std::string condition;
  std::string timeout = "60s";
};

// What --for asks: a named state, deletion, or a JSONPath value.
struct Condition {
  std::string name;  // "bound", "ready", "deleted", "jsonpath"
  std::optional<control::JsonPath> path;
  std::optional<std::string> value;  // jsonpath: nullopt = the field exists
};

StatusOr<Condition> ParseCondition(const std::string& text) {
  Condition condition;
  std::string lower = text;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.rfind("jsonpath=", 0) == 0) {
    std::string rest = text.substr(9);
    std::string expression;
    if (!rest.empty() && rest[0] == '{') {
      size_t close = rest.find('}');
      if (close == std::string::npos) {
        return absl::InvalidArgumentError(fmt::format(
            "unrecognized condition: \"{}\": the JSONPath has no closing }}; use "
            "--for=jsonpath='{{.status.phase}}'=Bound",
            text));
      }
      expression = rest.substr(0, close + 1);
      rest = rest.substr(close + 1);
      if (!rest.empty()) {
        if (rest[0] != '=') {
          return absl::InvalidArgumentError(fmt::format(
              "unrecognized condition: \"{}\"; use --for=jsonpath='{{.status.phase}}'=Bound", text));
        }
        condition.value = rest.substr(1);
      }
    } else {
      size_t eq = rest.find('=');
      expression = rest.substr(0, eq);
      if (eq != std::string::npos) condition.value = rest.substr(eq + 1);
    }
    if (expression.empty()) {
      return absl::InvalidArgumentError(
          "jsonpath wait format must be --for=jsonpath='{.status.phase}'=Bound");
    }
    ASSIGN_OR_RETURN(condition.path, control::JsonPath::ParseRelaxed(expression));
    condition.name = "jsonpath";
    return condition;
  }
  if (lower.rfind("condition=", 0) == 0) lower = lower.substr(10);
  if (lower == "delete") lower = "deleted";
  if (lower != "bound" && lower != "deleted" && lower != "ready") {
    return absl::InvalidArgumentError(fmt::format(
        "unrecognized condition: \"{}\"; use --for=bound, --for=ready, --for=deleted or "
        "--for=jsonpath='{{.status.phase}}'=Bound",
        text));
  }
  condition.name = lower;
  return condition;
}

// Whether `object` (nullopt: gone) meets `condition`.
bool ConditionMet(const Condition& condition, const std::optional<Json>& object) {
  if (condition.name == "deleted") return !object.has_value();
  if (!object.has_value()) return false;
  if (condition.name == "jsonpath") {
    std::vector<Json> values = condition.path->Values(*object);
    if (values.empty()) return false;
    if (!condition.value.has_value()) return true;
    for (const Json& value : values) {
      if (control::JsonPathText(value) != *condition.value) return false;
    }
    return true;
  }
  std::string kind = control::Kind(*object);
  std::string phase = control::GetString(*object, {"status", "phase"});
  if (condition.name == "bound") return phase == "Bound";
  if (kind == control::kVolumeSnapshot || kind == control::kVolumeSnapshotContent ||
      kind == control::kVolumeGroupSnapshot || kind == control::kVolumeGroupSnapshotContent) {
    return control::GetBool(*object, {"status", "readyToUse"});
  }
  if (kind == control::kNamespace) return phase == "Active";
  if (kind == control::kPersistentVolume) return phase == "Bound" || phase == "Available";
  return phase == "Bound";
}

// The newest Warning event about the object, for a timed-out wait.
std::string LastWarning(control::Store& store, const Json& object) {
  std::string warning;
  (void)store.Transact([&](control::StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(auto events, txn.ListEvents(control::Namespace(object), false,
                                                 control::Kind(object), control::Name(object)));
    int64_t newest = -1;
    for (const auto& event : events) {
      if (event.type == "Warning" && event.involved_uid == control::Uid(object) &&
          event.last_ns > newest) {
        newest = event.last_ns;
        warning = fmt::format("{}: {}", event.reason, event.message);
      }
    }
    return absl::OkStatus();
  });
  return warning;
}

Status RunWait(const GlobalFlags& flags, const CommonFlags& common, const WaitFlags& wait,
               const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(Condition condition, ParseCondition(wait.condition));
  ASSIGN_OR_RETURN(auto targets, ParseTargets(args));
  for (const Target& target : targets) {
    if (target.names.empty()) {
      return absl::InvalidArgumentError(fmt::format(
          "name what to wait for: dittoctl wait {}/NAME --for=...", target.kind->singular));
    }
  }
  ASSIGN_OR_RETURN(auto timeout, ParseDuration(wait.timeout));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const Target& target : targets) {
    for (const std::string& name : target.names) {
      std::string ns = target.kind->namespaced ? Namespace(common) : "";
      bool seen = false;
      while (true) {
        std::optional<Json> object;
        std::string warning;
        {
          // A fresh read-only session each round: the driver (and its pool)
          // stays free for other dittoctl commands while we wait.
          ASSIGN_OR_RETURN(auto session, OpenSession(flags, Access::kRead));
          if (session->has_store()) {
            ASSIGN_OR_RETURN(object, control::GetObject(session->store(),
                                                        std::string(target.kind->kind), ns, name));
            if (object.has_value()) warning = LastWarning(session->store(), *object);
          }
        }
        if (object.has_value()) seen = true;
        if (!object.has_value() && !seen && condition.name != "deleted") {
          return absl::NotFoundError(
              fmt::format("{} \"{}\" not found", target.kind->Resource(), name));
        }
        if (ConditionMet(condition, object)) {
          std::cout << target.kind->Ref(name) << " condition met\n";
          break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
          std::string message = fmt::format("timed out waiting for the condition on {}/{}",
                                            target.kind->plural, name);
          if (!warning.empty()) {
            message += fmt::format("; last warning: {} (dittoctl describe {} {}{})", warning,
                                   target.kind->singular, name,
                                   ns.empty() ? "" : " -n " + ns);
          }
          return absl::DeadlineExceededError(message);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }
  }
  return absl::OkStatus();
}

// ---- mount / unmount / attach / detach ----

StatusOr<std::string> ClaimName(const std::string& ref) {
  size_t slash = ref.find('/');
  if (slash == std::string::npos) {
    return absl::InvalidArgumentError(fmt::format("expected pvc/NAME, got \"{}\"", ref));
  }
  const KindInfo* kind = control::ResolveKind(ref.substr(0, slash));
  if (kind == nullptr || kind->kind != control::kPersistentVolumeClaim) {
    return absl::InvalidArgumentError(fmt::format(
        "only PersistentVolumeClaims can be mounted: expected pvc/NAME, got \"{}\"", ref));
  }
  return ref.substr(slash + 1);
}

// "pvc/NAME" (or "persistentvolumeclaim/NAME"), not a path.
bool IsClaimRef(const std::string& text) {
  size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || text[0] == '/' || text[0] == '.') return false;
  const KindInfo* kind = control::ResolveKind(text.substr(0, slash));
  return kind != nullptr && kind->kind == control::kPersistentVolumeClaim;
}

Status RunMount(const GlobalFlags& flags, const CommonFlags& common, const std::string& ref,
                const std::string& path, bool read_only) {
  ASSIGN_OR_RETURN(std::string claim, ClaimName(ref));
  ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  control::PublishRequest request;
  request.namespace_name = Namespace(common);
  request.claim_name = claim;
  ASSIGN_OR_RETURN(request.target_path, AbsolutePath(session->host(), path));
  request.read_only = read_only;
  ASSIGN_OR_RETURN(std::string target, control::PublishClaim(session->plane().context(), request));
  std::cout << fmt::format("persistentvolumeclaim/{} mounted at {}{}\n", claim, target,
                           read_only ? " (read-only)" : "");
  return absl::OkStatus();
}

Status RunUnmount(const GlobalFlags& flags, const CommonFlags& common, const std::string& what) {
  ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  std::vector<std::string> targets;
  if (IsClaimRef(what)) {
    ASSIGN_OR_RETURN(std::string claim, ClaimName(what));
    std::string ns = Namespace(common);
    RETURN_IF_ERROR(session->store().Transact([&](control::StoreTxn& txn) -> Status {
      ASSIGN_OR_RETURN(auto mounts, txn.ListMounts());
      for (const auto& mount : mounts) {
        if (mount.namespace_name == ns && mount.claim_name == claim && !mount.block) {
          targets.push_back(mount.target_path);
        }
      }
      return absl::OkStatus();
    }));
    if (targets.empty()) {
      return absl::NotFoundError(fmt::format(
          "PVC {}/{} is not mounted by dittoctl on this machine (dittoctl describe pvc {} -n {} "
          "shows where it is used; detach pvc/{} undoes attach)",
          ns, claim, claim, ns, claim));
    }
  } else {
    ASSIGN_OR_RETURN(std::string target, AbsolutePath(session->host(), what));
    targets.push_back(target);
  }
  for (const std::string& target : targets) {
    RETURN_IF_ERROR(control::UnpublishTarget(session->plane().context(), target));
    std::cout << target << " unmounted\n";
  }
  return absl::OkStatus();
}

Status RunAttach(const GlobalFlags& flags, const CommonFlags& common, const std::string& ref,
                 bool read_only) {
  ASSIGN_OR_RETURN(std::string claim, ClaimName(ref));
  ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  control::PublishRequest request;
  request.namespace_name = Namespace(common);
  request.claim_name = claim;
  request.block = true;
  request.read_only = read_only;
  ASSIGN_OR_RETURN(std::string target, control::PublishClaim(session->plane().context(), request));
  std::cout << target << "\n";
  return absl::OkStatus();
}

Status RunDetach(const GlobalFlags& flags, const CommonFlags& common, const std::string& what) {
  ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  std::string target;
  if (what.find('/') != std::string::npos && what[0] != '/') {
    ASSIGN_OR_RETURN(std::string claim, ClaimName(what));
    ASSIGN_OR_RETURN(target,
                     control::AttachedTarget(session->plane().context(), Namespace(common), claim));
  } else {
    ASSIGN_OR_RETURN(target, AbsolutePath(session->host(), what));
  }
  RETURN_IF_ERROR(control::UnpublishTarget(session->plane().context(), target));
  std::cout << what << " detached\n";
  return absl::OkStatus();
}

}  // namespace

void RegisterKubeCommands(CLI::App& app, GlobalFlags* flags, int* exit_code) {
  {
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
  RegisterGetCommand(app, flags, exit_code);
  {
    auto* sub = app.add_subcommand("describe", "Show an object in detail, with its events");
    auto common = std::make_shared<CommonFlags>();
    auto args = std::make_shared<std::vector<std::string>>();
    auto selector = std::make_shared<std::string>();
    sub->add_option("args", *args, "KIND [NAME...] | KIND/NAME")->required();
    AddNamespace(sub, common.get());
    sub->add_flag("-A,--all-namespaces", common->all_namespaces, "Across all namespaces");
    sub->add_option("-l,--selector", *selector, "Label selector, as for get");
    sub->callback([=] { Finish(RunDescribe(*flags, *common, *args, *selector), exit_code); });
  }
  {
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
  {
    auto* sub = app.add_subcommand("create", "Create an object");
    sub->require_subcommand(1);
    auto* ns = sub->add_subcommand("namespace", "Create a namespace")->alias("ns");
    auto name = std::make_shared<std::string>();
    ns->add_option("name", *name, "Namespace name")->required();
    ns->callback([=] { Finish(RunCreateNamespace(*flags, *name), exit_code); });
  }
  RegisterPatchCommands(app, flags, exit_code);
  {
    auto* sub = app.add_subcommand("wait", "Wait for KIND/NAME to be bound, ready or deleted");
    auto common = std::make_shared<CommonFlags>();
    auto wait = std::make_shared<WaitFlags>();
    auto args = std::make_shared<std::vector<std::string>>();
    sub->add_option("args", *args, "KIND/NAME... | KIND NAME...")->required();
    sub->add_option("--for", wait->condition,
                    "bound|ready|deleted|condition=Ready|jsonpath='{.status.phase}'=Bound")
        ->required();
    sub->add_option("--timeout", wait->timeout, "How long to wait (default 60s)");
    AddNamespace(sub, common.get());
    sub->callback([=] { Finish(RunWait(*flags, *common, *wait, *args), exit_code); });
  }
  {
    auto* sub =
        app.add_subcommand("mount", "Mount a Filesystem PVC at PATH (NodeStage + NodePublish)");
    auto common = std::make_shared<CommonFlags>();
    auto ref = std::make_shared<std::string>();
    auto path = std::make_shared<std::string>();
    auto read_only = std::make_shared<bool>(false);
    sub->add_option("claim", *ref, "pvc/NAME")->required();
    sub->add_option("path", *path, "Mount point (created if missing)")->required();
    sub->add_flag("--read-only", *read_only, "Mount read-only");
    AddNamespace(sub, common.get());
    sub->callback([=] { Finish(RunMount(*flags, *common, *ref, *path, *read_only), exit_code); });
  }
  {
    auto* sub = app.add_subcommand("unmount", "Unmount what dittoctl mount put at PATH, or pvc/NAME")
                    ->alias("umount");
    auto common = std::make_shared<CommonFlags>();
    auto what = std::make_shared<std::string>();
    sub->add_option("path", *what, "Mount point, or pvc/NAME (with -n) for all its mounts")
        ->required();
    AddNamespace(sub, common.get());
    sub->callback([=] { Finish(RunUnmount(*flags, *common, *what), exit_code); });
  }
  {
    auto* sub = app.add_subcommand("attach", "Publish a Block PVC and print its device path");
    auto common = std::make_shared<CommonFlags>();
    auto ref = std::make_shared<std::string>();
    auto read_only = std::make_shared<bool>(false);
    sub->add_option("claim", *ref, "pvc/NAME")->required();
    sub->add_flag("--read-only", *read_only, "Read-only device");
    AddNamespace(sub, common.get());
    sub->callback([=] { Finish(RunAttach(*flags, *common, *ref, *read_only), exit_code); });
  }
  {
    auto* sub = app.add_subcommand("detach", "Undo attach: detach pvc/NAME or a device PATH");
    auto common = std::make_shared<CommonFlags>();
    auto what = std::make_shared<std::string>();
    sub->add_option("claim", *what, "pvc/NAME or the path attach printed")->required();
    AddNamespace(sub, common.get());
    sub->callback([=] { Finish(RunDetach(*flags, *common, *what), exit_code); });
  }
  RegisterCompletionCommand(app, exit_code);
}

}  // namespace ditto::cli
