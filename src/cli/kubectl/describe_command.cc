// `dittoctl describe`: an object in detail, with its events.
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

}  // namespace

void RegisterDescribeCommand(CLI::App& app, GlobalFlags* flags, int* exit_code) {
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

}  // namespace ditto::cli
