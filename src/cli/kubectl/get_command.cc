// dittoctl get: tables, -o formats, -l selectors, --sort-by and -w.
#include <chrono>
#include <iostream>
#include <iterator>
#include <map>
#include <thread>

#include "cli/kubectl/kube_commands.h"
#include "cli/kubectl/kube_util.h"
#include "cli/kubectl/output_format.h"
#include "common/clock.h"
#include "control/controllers/context.h"
#include "control/api/label_selector.h"
#include "cli/kubectl/printers.h"
#include "fmt/format.h"

namespace ditto::cli {
namespace {

using control::Json;

struct GetFlags {
  std::string output;
  bool no_headers = false;
  std::string selector;
  std::string sort_by;
  bool watch = false;
  bool watch_only = false;
  std::string request_timeout = "0";
};

std::string NoResources(const CommonFlags& common, bool namespaced) {
  if (!namespaced || common.all_namespaces) return "No resources found\n";
  return fmt::format("No resources found in {} namespace.\n", Namespace(common));
}

// The objects of one target: by name (a missing one is printed as kubectl
// does and sets *missing) or every one matching the selector.
StatusOr<std::vector<Json>> Select(control::Store& store, const Target& target,
                                   const CommonFlags& common,
                                   const control::LabelSelector& selector, bool* missing,
                                   bool print_missing) {
  std::string kind(target.kind->kind);
  std::string ns = target.kind->namespaced ? Namespace(common) : "";
  std::vector<Json> objects;
  RETURN_IF_ERROR(store.Transact([&](control::StoreTxn& txn) -> Status {
    if (target.names.empty()) {
      ASSIGN_OR_RETURN(auto all, txn.List(kind, ns, common.all_namespaces));
      for (Json& object : all) {
        if (selector.MatchesObject(object)) objects.push_back(std::move(object));
      }
      return absl::OkStatus();
    }
    for (const std::string& name : target.names) {
      ASSIGN_OR_RETURN(std::optional<Json> object, txn.Get(kind, ns, name));
      if (!object.has_value()) {
        if (print_missing) {
          PrintError(absl::NotFoundError(
              fmt::format("{} \"{}\" not found", target.kind->Resource(), name)));
        }
        *missing = true;
        continue;
      }
      objects.push_back(std::move(*object));
    }
    return absl::OkStatus();
  }));
  return objects;
}

Status PrintEventsOf(control::Store& store, const CommonFlags& common) {
  std::vector<control::EventRecord> events;
  RETURN_IF_ERROR(store.Transact([&](control::StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(events, txn.ListEvents(Namespace(common), common.all_namespaces));
    return absl::OkStatus();
  }));
  if (events.empty()) {
    std::cerr << NoResources(common, true);
  } else {
    std::cout << control::PrintEvents(events, common.all_namespaces, NowNanos());
  }
  return absl::OkStatus();
}

// -w: prints every change (a new resourceVersion, or the object gone) as a
// row without headers, polling until --request-timeout (0: until killed).
Status Watch(const GlobalFlags& flags, const CommonFlags& common, const GetFlags& get,
             const OutputFormat& format, const std::vector<Target>& targets,
             const control::LabelSelector& selector, std::map<std::string, Json> seen) {
  ASSIGN_OR_RETURN(auto timeout, ParseDuration(get.request_timeout, "--request-timeout"));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (timeout.count() == 0 || std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    // Another dittoctl may hold the pool for a moment: try again next round.
    auto opened = Session::Open(flags, Access::kRead);
    if (!opened.ok()) continue;
    std::unique_ptr<Session> session = std::move(opened).value();
    if (!session->has_store()) continue;
    if (session->has_plane() && !session->plane().Reconcile().ok()) continue;
    for (const Target& target : targets) {
      bool missing = false;
      ASSIGN_OR_RETURN(auto objects,
                       Select(session->store(), target, common, selector, &missing, false));
      std::map<std::string, Json> now;
      for (Json& object : objects) {
        std::string key = fmt::format("{}/{}/{}", target.kind->kind, control::Namespace(object),
                                      control::Name(object));
        now[key] = object;
      }
      std::vector<Json> changed;
      for (const auto& [key, object] : now) {
        auto old = seen.find(key);
        if (old == seen.end() || control::ResourceVersion(old->second) !=
                                     control::ResourceVersion(object)) {
          changed.push_back(object);
        }
      }
      std::string prefix = fmt::format("{}/", target.kind->kind);
      for (const auto& [key, object] : seen) {
        if (key.rfind(prefix, 0) == 0 && now.count(key) == 0) changed.push_back(object);
      }
      for (auto it = seen.begin(); it != seen.end();) {
        it = it->first.rfind(prefix, 0) == 0 ? seen.erase(it) : std::next(it);
      }
      for (auto& [key, object] : now) seen[key] = object;
      if (changed.empty()) continue;
      if (format.type == OutputFormat::kName) {
        for (const Json& object : changed) {
          std::cout << target.kind->Ref(control::Name(object)) << "\n";
        }
      } else {
        control::TableOptions table;
        table.wide = format.type == OutputFormat::kWide;
        table.all_namespaces = common.all_namespaces;
        table.no_headers = true;
        std::cout << control::PrintTable(*target.kind, changed, table, NowNanos());
      }
      std::cout.flush();
    }
  }
  return absl::OkStatus();
}

// Kept in one piece: argument checks, one listing pass and the watch rounds share the
// targets, the format and the session's lifetime; the steps are commented in place.
Status RunGet(const GlobalFlags& flags, const CommonFlags& common, const GetFlags& get,
              const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto targets, ParseTargets(args));
  ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(get.output));
  ASSIGN_OR_RETURN(auto selector, control::LabelSelector::Parse(get.selector));
  bool by_name = false;
  for (const Target& target : targets) by_name |= !target.names.empty();
  if (by_name && !selector.empty()) {
    return absl::InvalidArgumentError(
        "name cannot be provided when a selector is specified; drop the names or -l");
  }
  if ((get.watch || get.watch_only) && format.Collects()) {
    return absl::InvalidArgumentError(
        "-w prints each change as a table row; use it with the default, wide or name output");
  }
  if (!get.sort_by.empty()) RETURN_IF_ERROR(control::JsonPath::ParseRelaxed(get.sort_by).status());
  // get only reads: no state is created and no pool is mounted for it.
  ASSIGN_OR_RETURN(auto session, Session::Open(flags, Access::kRead));
  if (session->has_plane()) RETURN_IF_ERROR(session->plane().Reconcile());
  std::map<std::string, Json> seen;  // for -w
  if (!session->has_store()) {
    if (by_name) {
      for (const Target& target : targets) {
        for (const std::string& name : target.names) {
          PrintError(absl::NotFoundError(
              fmt::format("{} \"{}\" not found", target.kind->Resource(), name)));
        }
      }
      return absl::CancelledError("");
    }
    std::cerr << NoResources(common, targets[0].kind->namespaced);
    if (get.watch || get.watch_only) {
      return Watch(flags, common, get, format, targets, selector, seen);
    }
    return absl::OkStatus();
  }
  control::Store& store = session->store();
  int64_t now = NowNanos();
  bool missing = false;
  std::vector<Json> collected;
  bool printed_table = false;
  bool several_kinds = targets.size() > 1;
  for (const Target& target : targets) {
    if (target.kind->kind == control::kEvent) {
      RETURN_IF_ERROR(PrintEventsOf(store, common));
      continue;
    }
    ASSIGN_OR_RETURN(auto objects, Select(store, target, common, selector, &missing, true));
    if (!get.sort_by.empty()) RETURN_IF_ERROR(SortObjects(get.sort_by, &objects));
    for (const Json& object : objects) {
      seen[fmt::format("{}/{}/{}", target.kind->kind, control::Namespace(object),
                       control::Name(object))] = object;
    }
    if (get.watch_only) continue;
    if (format.Collects()) {
      for (Json& object : objects) collected.push_back(std::move(object));
      continue;
    }
    if (format.type == OutputFormat::kName) {
      for (const Json& object : objects) {
        std::cout << target.kind->Ref(control::Name(object)) << "\n";
      }
      continue;
    }
    if (objects.empty()) {
      if (target.names.empty() && !several_kinds) {
        std::cerr << NoResources(common, target.kind->namespaced);
      }
      continue;
    }
    control::TableOptions table;
    table.wide = format.type == OutputFormat::kWide;
    table.all_namespaces = common.all_namespaces;
    table.with_kind = several_kinds;
    table.no_headers = get.no_headers;
    if (printed_table) std::cout << "\n";
    std::cout << control::PrintTable(*target.kind, objects, table, now);
    printed_table = true;
  }
  if (format.Collects()) {
    if (!get.sort_by.empty() && several_kinds) RETURN_IF_ERROR(SortObjects(get.sort_by, &collected));
    bool single = by_name && collected.size() == 1 && targets.size() == 1 &&
                  targets[0].names.size() == 1;
    if (format.type == OutputFormat::kCustomColumns) {
      if (collected.empty() && !by_name) {
        std::cerr << NoResources(common, targets[0].kind->namespaced);
      } else {
        std::cout << PrintCustomColumns(format, collected, get.no_headers);
      }
    } else if (format.type == OutputFormat::kJsonPath) {
      Json input = single ? collected[0]
                          : Json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", collected},
                                 {"metadata", {{"resourceVersion", ""}}}};
      if (!(collected.empty() && missing)) std::cout << format.template_.Execute(input);
    } else if (!collected.empty() || !single) {
      std::cout << (format.type == OutputFormat::kYaml ? control::PrintYaml(collected, !single)
                                                       : control::PrintJson(collected, !single));
    }
  }
  std::cout.flush();
  if (missing) return absl::CancelledError("");  // already printed
  // The watch opens a session per round: let this one (and its pool) go.
  session.reset();
  if (get.watch || get.watch_only) return Watch(flags, common, get, format, targets, selector, seen);
  return absl::OkStatus();
}

}  // namespace

void RegisterGetCommand(CLI::App& app, GlobalFlags* flags, int* exit_code) {
  auto* sub = app.add_subcommand("get", "List objects: get KIND [NAME...] or KIND/NAME");
  auto common = std::make_shared<CommonFlags>();
  auto get = std::make_shared<GetFlags>();
  auto args = std::make_shared<std::vector<std::string>>();
  sub->add_option("args", *args, "KIND[,KIND] [NAME...] | KIND/NAME...")->required();
  AddNamespace(sub, common.get());
  sub->add_flag("-A,--all-namespaces", common->all_namespaces, "List across all namespaces");
  sub->add_option("-o,--output", get->output,
                  "wide|yaml|json|name|jsonpath=TEMPLATE|custom-columns=HEADER:PATH,...");
  sub->add_option("-l,--selector", get->selector,
                  "Label selector: key=value, key!=value, 'key in (a,b)', 'key notin (a)', key, "
                  "!key");
  sub->add_option("--sort-by", get->sort_by, "Sort by this JSONPath, e.g. .metadata.name");
  sub->add_flag("-w,--watch", get->watch, "After listing, print each change");
  sub->add_flag("--watch-only", get->watch_only, "Print only changes");
  sub->add_option("--request-timeout", get->request_timeout,
                  "With -w: stop watching after this long (0: never), e.g. 30s");
  sub->add_flag("--no-headers", get->no_headers, "Omit the header line");
  sub->callback([=] { Finish(RunGet(*flags, *common, *get, *args), exit_code); });
}

}  // namespace ditto::cli
