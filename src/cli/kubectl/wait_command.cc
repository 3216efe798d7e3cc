// `dittoctl wait --for=...`: until objects are bound, ready, deleted or
// match a JSONPath value.
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

}  // namespace

void RegisterWaitCommand(CLI::App& app, GlobalFlags* flags, int* exit_code) {
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

}  // namespace ditto::cli
