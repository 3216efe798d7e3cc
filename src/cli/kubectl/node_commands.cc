// The kubelet's verbs: `dittoctl mount|unmount` (Filesystem claims) and
// `attach|detach` (Block claims), through control/kubelet.
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
                const std::string& path, bool read_only, const std::string& node) {
  ASSIGN_OR_RETURN(std::string claim, ClaimName(ref));
  ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  control::PublishRequest request;
  request.namespace_name = Namespace(common);
  request.claim_name = claim;
  ASSIGN_OR_RETURN(request.target_path, AbsolutePath(session->host(), path));
  request.read_only = read_only;
  request.node = node;
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
                 bool read_only, const std::string& node) {
  ASSIGN_OR_RETURN(std::string claim, ClaimName(ref));
  ASSIGN_OR_RETURN(auto session, OpenSession(flags));
  control::PublishRequest request;
  request.namespace_name = Namespace(common);
  request.claim_name = claim;
  request.block = true;
  request.read_only = read_only;
  request.node = node;
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

void RegisterNodeCommands(CLI::App& app, GlobalFlags* flags, int* exit_code) {
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
    auto node = std::make_shared<std::string>();
    sub->add_option("--node", *node,
                    "Node the consumer runs on (with several --endpoint): a WaitForFirstConsumer "
                    "claim is provisioned there; default: the first --endpoint's node");
    AddNamespace(sub, common.get());
    sub->callback(
        [=] { Finish(RunMount(*flags, *common, *ref, *path, *read_only, *node), exit_code); });
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
    auto node = std::make_shared<std::string>();
    sub->add_option("--node", *node, "Node the consumer runs on (as for mount)");
    AddNamespace(sub, common.get());
    sub->callback(
        [=] { Finish(RunAttach(*flags, *common, *ref, *read_only, *node), exit_code); });
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
