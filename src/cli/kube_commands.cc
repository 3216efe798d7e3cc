#include "cli/kube_commands.h"

#include <chrono>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "control/apply.h"
#include "control/kinds.h"
#include "control/node.h"
#include "control/printers.h"
#include "control/yaml_io.h"
#include "fmt/format.h"

namespace ditto::cli {
namespace {

using control::Json;
using control::KindInfo;

// kubectl's way of showing an error: "Error from server (Reason): ..." for
// what the API server would refuse, "error: ..." for the rest.
void PrintError(const Status& status) {
  std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      std::cerr << "Error from server (NotFound): " << message << "\n";
      break;
    case absl::StatusCode::kAlreadyExists:
      std::cerr << "Error from server (AlreadyExists): " << message << "\n";
      break;
    case absl::StatusCode::kAborted:
      std::cerr << "Error from server (Conflict): " << message << "\n";
      break;
    default:
      std::cerr << "error: " << message << "\n";
  }
}

struct CommonFlags {
  std::string ns;
  bool all_namespaces = false;
};

std::string Namespace(const CommonFlags& common) {
  return common.ns.empty() ? "default" : common.ns;
}

CLI::Option* AddNamespace(CLI::App* sub, CommonFlags* common) {
  return sub->add_option("-n,--namespace", common->ns, "Namespace (default: default)");
}

StatusOr<const KindInfo*> ResolveKindOrError(const std::string& text) {
  const KindInfo* kind = control::ResolveKind(text);
  if (kind == nullptr) {
    return absl::InvalidArgumentError(fmt::format(
        "the server doesn't have a resource type \"{}\"; known: pvc, pv, sc, vac, ns, vs, "
        "vsclass, vsc, referencegrant, events",
        text));
  }
  return kind;
}

struct Target {
  const KindInfo* kind = nullptr;
  std::vector<std::string> names;  // empty: all
};

// "pvc", "pvc NAME...", "pvc,pv", "pvc/NAME pv/NAME".
StatusOr<std::vector<Target>> ParseTargets(const std::vector<std::string>& args) {
  if (args.empty()) {
    return absl::InvalidArgumentError(
        "you must specify the type of resource, e.g. dittoctl get pvc");
  }
  std::vector<Target> targets;
  if (args[0].find('/') != std::string::npos) {
    for (const std::string& arg : args) {
      size_t slash = arg.find('/');
      if (slash == std::string::npos) {
        return absl::InvalidArgumentError(fmt::format(
            "there is no need to specify a resource type as a separate argument when passing "
            "arguments in resource/name form (e.g. 'dittoctl get pvc/x'); got \"{}\"",
            arg));
      }
      ASSIGN_OR_RETURN(const KindInfo* kind, ResolveKindOrError(arg.substr(0, slash)));
      targets.push_back({kind, {arg.substr(slash + 1)}});
    }
    return targets;
  }
  std::stringstream kinds(args[0]);
  std::string item;
  while (std::getline(kinds, item, ',')) {
    ASSIGN_OR_RETURN(const KindInfo* kind, ResolveKindOrError(item));
    targets.push_back({kind, {args.begin() + 1, args.end()}});
  }
  return targets;
}

StatusOr<std::unique_ptr<Session>> OpenSession(const GlobalFlags& flags) {
  ASSIGN_OR_RETURN(auto session, Session::Open(flags));
  RETURN_IF_ERROR(session->plane().Reconcile());
  return session;
}

StatusOr<std::vector<control::Document>> ReadDocuments(host::Host& host,
                                                       const std::vector<std::string>& files) {
  std::vector<control::Document> documents;
  for (const std::string& file : files) {
    std::vector<std::pair<std::string, std::string>> inputs;  // name, text
    if (file == "-") {
      std::string text((std::istreambuf_iterator<char>(std::cin)),
                       std::istreambuf_iterator<char>());
      inputs.emplace_back("-", text);
    } else {
      ASSIGN_OR_RETURN(std::string path, AbsolutePath(host, file));
      auto info = host.Stat(path);
      if (!info.ok()) {
        return absl::NotFoundError(fmt::format("the path \"{}\" does not exist", file));
      }
      if (info->is_directory) {
        ASSIGN_OR_RETURN(auto names, host.ListDirectory(path));
        std::sort(names.begin(), names.end());
        for (const std::string& name : names) {
          if (!(name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))) {
            continue;
          }
          ASSIGN_OR_RETURN(std::string text, host.ReadFile(path + "/" + name));
          inputs.emplace_back(file + "/" + name, text);
        }
      } else {
        ASSIGN_OR_RETURN(std::string text, host.ReadFile(path));
        inputs.emplace_back(file, text);
      }
    }
    for (const auto& [name, text] : inputs) {
      ASSIGN_OR_RETURN(auto parsed, control::ParseYaml(text, name));
      for (auto& document : parsed) documents.push_back(std::move(document));
    }
  }
  return documents;
}

// ---- apply / create ----

Status RunApply(const GlobalFlags& flags, const CommonFlags& common,
                const std::vector<std::string>& files) {
  if (files.empty()) return absl::InvalidArgumentError("must specify one of -f");
  host::LinuxHost host;
  ASSIGN_OR_RETURN(auto documents, ReadDocuments(host, files));
  control::ApplyOptions options;
  options.default_namespace = Namespace(common);
  options.namespace_flag = !common.ns.empty();
  // Validate before opening the driver: bad input never touches anything.
  if (documents.empty()) return absl::InvalidArgumentError("no objects passed to apply");
  ASSIGN_OR_RETURN(auto session, Session::Open(flags));
  ASSIGN_OR_RETURN(auto results, session->plane().Apply(documents, options));
  for (const auto& result : results) {
    std::cout << result.ref << " " << control::ActionName(result.action) << "\n";
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

// ---- get ----

struct GetFlags {
  std::string output;
  bool no_headers = false;
};

Status RunGet(const GlobalFlags& flags, const CommonFlags& common, const GetFlags& get,
              const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto targets, ParseTargets(args));
  const std::string& output = get.output;
  if (!output.empty() && output != "wide" && output != "yaml" && output != "json" &&
      output != "name") {
    return absl::InvalidArgumentError(fmt::format(
        "unable to match a printer suitable for the output format \"{}\", allowed formats are: "
        "json,name,wide,yaml",
        output));
  }
  ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  control::Store& store = session->plane().store();
  std::string ns = Namespace(common);
  int64_t now = NowNanos();
  Status first_error;
  std::vector<Json> collected;
  bool by_name = false;
  bool printed_table = false;
  bool several_kinds = targets.size() > 1;
  for (const Target& target : targets) {
    std::string kind(target.kind->kind);
    std::string object_ns = target.kind->namespaced ? ns : "";
    if (kind == control::kEvent) {
      std::vector<control::EventRecord> events;
      RETURN_IF_ERROR(store.Transact([&](control::StoreTxn& txn) -> Status {
        ASSIGN_OR_RETURN(events, txn.ListEvents(ns, common.all_namespaces));
        return absl::OkStatus();
      }));
      if (events.empty()) {
        std::cerr << (common.all_namespaces
                          ? std::string("No resources found\n")
                          : fmt::format("No resources found in {} namespace.\n", ns));
      } else {
        std::cout << control::PrintEvents(events, common.all_namespaces, now);
      }
      continue;
    }
    std::vector<Json> objects;
    if (target.names.empty()) {
      RETURN_IF_ERROR(store.Transact([&](control::StoreTxn& txn) -> Status {
        ASSIGN_OR_RETURN(objects, txn.List(kind, object_ns, common.all_namespaces));
        return absl::OkStatus();
      }));
    } else {
      by_name = true;
      for (const std::string& name : target.names) {
        std::optional<Json> object;
        RETURN_IF_ERROR(store.Transact([&](control::StoreTxn& txn) -> Status {
          ASSIGN_OR_RETURN(object, txn.Get(kind, object_ns, name));
          return absl::OkStatus();
        }));
        if (!object.has_value()) {
          Status missing = absl::NotFoundError(
              fmt::format("{} \"{}\" not found", target.kind->Resource(), name));
          PrintError(missing);
          if (first_error.ok()) first_error = absl::NotFoundError("");
          continue;
        }
        objects.push_back(std::move(*object));
      }
    }
    if (output == "yaml" || output == "json") {
      for (Json& object : objects) collected.push_back(std::move(object));
      continue;
    }
    if (output == "name") {
      for (const Json& object : objects)
        std::cout << target.kind->Ref(control::Name(object)) << "\n";
      continue;
    }
    if (objects.empty()) {
      if (target.names.empty() && !several_kinds) {
        if (!target.kind->namespaced || common.all_namespaces) {
          std::cerr << "No resources found\n";
        } else {
          std::cerr << fmt::format("No resources found in {} namespace.\n", ns);
        }
      }
      continue;
    }
    control::TableOptions table;
    table.wide = output == "wide";
    table.all_namespaces = common.all_namespaces;
    table.with_kind = several_kinds;
    table.no_headers = get.no_headers;
    if (printed_table) std::cout << "\n";
    std::cout << control::PrintTable(*target.kind, objects, table, now);
    printed_table = true;
  }
  if (output == "yaml" || output == "json") {
    bool as_list =
        !(by_name && collected.size() == 1 && targets.size() == 1 && targets[0].names.size() == 1);
    if (!collected.empty() || as_list) {
      std::cout << (output == "yaml" ? control::PrintYaml(collected, as_list)
                                     : control::PrintJson(collected, as_list));
    }
  }
  if (!first_error.ok()) return absl::CancelledError("");  // already printed
  return absl::OkStatus();
}

// ---- describe ----

Status RunDescribe(const GlobalFlags& flags, const CommonFlags& common,
                   const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto targets, ParseTargets(args));
  ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  control::Store& store = session->plane().store();
  std::string ns = Namespace(common);
  bool first = true;
  for (const Target& target : targets) {
    std::string kind(target.kind->kind);
    std::string object_ns = target.kind->namespaced ? ns : "";
    std::vector<Json> objects;
    RETURN_IF_ERROR(store.Transact([&](control::StoreTxn& txn) -> Status {
      if (target.names.empty()) {
        ASSIGN_OR_RETURN(objects, txn.List(kind, object_ns, common.all_namespaces));
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
  return absl::OkStatus();
}

// ---- delete ----

Status RunDelete(const GlobalFlags& flags, const CommonFlags& common,
                 const std::vector<std::string>& args, const std::vector<std::string>& files) {
  std::vector<std::tuple<const KindInfo*, std::string, std::string>> victims;  // kind, ns, name
  host::LinuxHost host;
  if (!files.empty()) {
    ASSIGN_OR_RETURN(auto documents, ReadDocuments(host, files));
    for (const auto& document : documents) {
      ASSIGN_OR_RETURN(const KindInfo* kind, ResolveKindOrError(control::Kind(document.object)));
      std::string ns = control::Namespace(document.object);
      if (ns.empty()) ns = Namespace(common);
      victims.emplace_back(kind, kind->namespaced ? ns : "", control::Name(document.object));
    }
  } else {
    ASSIGN_OR_RETURN(auto targets, ParseTargets(args));
    for (const Target& target : targets) {
      if (target.names.empty()) {
        return absl::InvalidArgumentError(
            "resource(s) were provided, but no name was specified (dittoctl delete pvc NAME)");
      }
      for (const std::string& name : target.names) {
        victims.emplace_back(target.kind, target.kind->namespaced ? Namespace(common) : "", name);
      }
    }
  }
  ASSIGN_OR_RETURN(auto session, Session::Open(flags));
  Status result;
  for (const auto& [kind, ns, name] : victims) {
    auto held = session->plane().Delete(std::string(kind->kind), ns, name);
    if (!held.ok()) {
      PrintError(held.status());
      result = absl::CancelledError("");
      continue;
    }
    std::cout << fmt::format("{} \"{}\" deleted\n", kind->singular, name);
    if (!held->empty()) {
      std::cerr << fmt::format("{} \"{}\" is Terminating: {}\n", kind->singular, name, *held);
    }
  }
  return result;
}

// ---- wait ----

struct WaitFlags {
  std::string condition;
  std::string timeout = "60s";
};

StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  if (text.empty()) return absl::InvalidArgumentError("empty --timeout");
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) {
    return absl::InvalidArgumentError(
        fmt::format("invalid --timeout \"{}\"; use e.g. 30s, 2m or 1h", text));
  }
  int64_t value = std::stoll(text.substr(0, digits));
  std::string unit = text.substr(digits);
  if (unit == "ms") return std::chrono::milliseconds(value);
  if (unit.empty() || unit == "s") return std::chrono::milliseconds(value * 1000);
  if (unit == "m") return std::chrono::milliseconds(value * 60000);
  if (unit == "h") return std::chrono::milliseconds(value * 3600000);
  return absl::InvalidArgumentError(
      fmt::format("invalid --timeout \"{}\"; use e.g. 30s, 2m or 1h", text));
}

// Whether `object` (nullopt: gone) meets `condition`.
bool ConditionMet(const std::string& condition, const std::optional<Json>& object) {
  if (condition == "delete" || condition == "deleted") return !object.has_value();
  if (!object.has_value()) return false;
  std::string kind = control::Kind(*object);
  std::string phase = control::GetString(*object, {"status", "phase"});
  if (condition == "bound") return phase == "Bound";
  if (condition == "ready") {
    if (kind == control::kVolumeSnapshot || kind == control::kVolumeSnapshotContent) {
      return control::GetBool(*object, {"status", "readyToUse"});
    }
    if (kind == control::kNamespace) return phase == "Active";
    if (kind == control::kPersistentVolume) return phase == "Bound" || phase == "Available";
    return phase == "Bound";
  }
  return false;
}

Status RunWait(const GlobalFlags& flags, const CommonFlags& common, const WaitFlags& wait,
               const std::vector<std::string>& args) {
  std::string condition = wait.condition;
  for (char& c : condition) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (condition.rfind("condition=", 0) == 0) condition = condition.substr(10);
  if (condition.rfind("jsonpath={.status.phase}=", 0) == 0) {
    condition = condition.substr(25);
  }
  if (condition != "bound" && condition != "deleted" && condition != "delete" &&
      condition != "ready") {
    return absl::InvalidArgumentError(
        fmt::format("unrecognized condition: \"{}\"; use --for=bound, --for=ready or --for=deleted",
                    wait.condition));
  }
  ASSIGN_OR_RETURN(auto targets, ParseTargets(args));
  ASSIGN_OR_RETURN(auto timeout, ParseDuration(wait.timeout));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const Target& target : targets) {
    for (const std::string& name : target.names) {
      std::string ns = target.kind->namespaced ? Namespace(common) : "";
      bool seen = false;
      while (true) {
        std::optional<Json> object;
        {
          // A fresh session each round: the driver (and its pool) stays free
          // for other dittoctl commands while we wait.
          ASSIGN_OR_RETURN(auto session, OpenSession(flags));
          ASSIGN_OR_RETURN(object, control::GetObject(session->plane().store(),
                                                      std::string(target.kind->kind), ns, name));
        }
        if (object.has_value()) seen = true;
        if (!object.has_value() && !seen && condition != "deleted" && condition != "delete") {
          return absl::NotFoundError(
              fmt::format("{} \"{}\" not found", target.kind->Resource(), name));
        }
        if (ConditionMet(condition, object)) {
          std::cout << target.kind->Ref(name) << " condition met\n";
          break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
          return absl::DeadlineExceededError(fmt::format(
              "timed out waiting for the condition on {}/{}", target.kind->plural, name));
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

Status RunUnmount(const GlobalFlags& flags, const std::string& path) {
  ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  ASSIGN_OR_RETURN(std::string target, AbsolutePath(session->host(), path));
  RETURN_IF_ERROR(control::UnpublishTarget(session->plane().context(), target));
  std::cout << target << " unmounted\n";
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

void Finish(const Status& status, int* exit_code) {
  if (status.ok()) {
    *exit_code = 0;
    return;
  }
  // Cancelled: the command already printed its errors.
  if (status.code() != absl::StatusCode::kCancelled) PrintError(status);
  *exit_code = 1;
}

}  // namespace

void RegisterKubeCommands(CLI::App& app, GlobalFlags* flags, int* exit_code) {
  {
    auto* sub =
        app.add_subcommand("apply", "Apply objects from YAML files (all-or-nothing per call)");
    auto common = std::make_shared<CommonFlags>();
    auto files = std::make_shared<std::vector<std::string>>();
    sub->add_option("-f,--filename", *files, "File, directory or - for stdin")->required();
    AddNamespace(sub, common.get());
    sub->callback([=] { Finish(RunApply(*flags, *common, *files), exit_code); });
  }
  {
    auto* sub = app.add_subcommand("get", "List objects: get KIND [NAME...] or KIND/NAME");
    auto common = std::make_shared<CommonFlags>();
    auto get = std::make_shared<GetFlags>();
    auto args = std::make_shared<std::vector<std::string>>();
    sub->add_option("args", *args, "KIND[,KIND] [NAME...] | KIND/NAME...")->required();
    AddNamespace(sub, common.get());
    sub->add_flag("-A,--all-namespaces", common->all_namespaces, "List across all namespaces");
    sub->add_option("-o,--output", get->output, "wide|yaml|json|name");
    sub->add_flag("--no-headers", get->no_headers, "Omit the header line");
    sub->callback([=] { Finish(RunGet(*flags, *common, *get, *args), exit_code); });
  }
  {
    auto* sub = app.add_subcommand("describe", "Show an object in detail, with its events");
    auto common = std::make_shared<CommonFlags>();
    auto args = std::make_shared<std::vector<std::string>>();
    sub->add_option("args", *args, "KIND [NAME...] | KIND/NAME")->required();
    AddNamespace(sub, common.get());
    sub->add_flag("-A,--all-namespaces", common->all_namespaces, "Across all namespaces");
    sub->callback([=] { Finish(RunDescribe(*flags, *common, *args), exit_code); });
  }
  {
    auto* sub =
        app.add_subcommand("delete", "Delete objects (Terminating while a finalizer holds them)");
    auto common = std::make_shared<CommonFlags>();
    auto args = std::make_shared<std::vector<std::string>>();
    auto files = std::make_shared<std::vector<std::string>>();
    sub->add_option("args", *args, "KIND NAME... | KIND/NAME...");
    sub->add_option("-f,--filename", *files, "Delete the objects in these files");
    AddNamespace(sub, common.get());
    sub->callback([=] { Finish(RunDelete(*flags, *common, *args, *files), exit_code); });
  }
  {
    auto* sub = app.add_subcommand("create", "Create an object");
    sub->require_subcommand(1);
    auto* ns = sub->add_subcommand("namespace", "Create a namespace")->alias("ns");
    auto name = std::make_shared<std::string>();
    ns->add_option("name", *name, "Namespace name")->required();
    ns->callback([=] { Finish(RunCreateNamespace(*flags, *name), exit_code); });
  }
  {
    auto* sub = app.add_subcommand("wait", "Wait for KIND/NAME to be bound, ready or deleted");
    auto common = std::make_shared<CommonFlags>();
    auto wait = std::make_shared<WaitFlags>();
    auto args = std::make_shared<std::vector<std::string>>();
    sub->add_option("args", *args, "KIND/NAME...")->required();
    sub->add_option("--for", wait->condition, "bound|ready|deleted")->required();
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
    auto* sub =
        app.add_subcommand("unmount", "Unmount what dittoctl mount put at PATH")->alias("umount");
    auto path = std::make_shared<std::string>();
    sub->add_option("path", *path, "Mount point")->required();
    sub->callback([=] { Finish(RunUnmount(*flags, *path), exit_code); });
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
}

}  // namespace ditto::cli
