// dittoctl patch: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
// strategic merge patch, applied to the stored object and stored through
// the same admission as apply.
#include <iostream>

#include "cli/kubectl/kube_commands.h"
#include "cli/kubectl/kube_util.h"
#include "control/apiserver/apply.h"
#include "control/controllers/context.h"
#include "fmt/format.h"
#include "host/linux_host.h"

namespace ditto::cli {
namespace {

using control::Json;

struct PatchFlags {
  std::string patch;
  std::string patch_file;
  std::string type = "strategic";
  std::string dry_run;
};

// Kinds the API server serves from CRDs: no strategic merge patch for them.
bool IsCustomResource(const control::KindInfo& kind) {
  std::string group = control::GroupOf(kind.api_version);
  return group == "snapshot.storage.k8s.io" || group == "groupsnapshot.storage.k8s.io" ||
         group == "gateway.networking.k8s.io";
}

StatusOr<Json> PatchObject(const Json& object, const Json& patch, const std::string& type) {
  if (type == "json") {
    if (!patch.is_array()) {
      return absl::InvalidArgumentError(
          "a --type=json patch is a list of operations, e.g. "
          "'[{\"op\":\"replace\",\"path\":\"/spec/resources/requests/storage\",\"value\":\"2Gi\"}]'");
    }
    try {
      return object.patch(patch);
    } catch (const Json::exception& error) {
      return absl::InvalidArgumentError(
          fmt::format("the JSON patch cannot be applied: {}; check each operation's path", error.what()));
    }
  }
  if (!patch.is_object()) {
    return absl::InvalidArgumentError(fmt::format(
        "a --type={} patch is an object, e.g. "
        "'{{\"spec\":{{\"resources\":{{\"requests\":{{\"storage\":\"2Gi\"}}}}}}}}'",
        type));
  }
  // These kinds' lists carry no merge keys: a strategic merge patch merges
  // maps and replaces lists, as a merge patch does.
  Json patched = object;
  patched.merge_patch(patch);
  return patched;
}

// Kept in one piece: checks of the arguments, reading the patch, then one
// read-patch-write of the object, each step a few lines.
Status RunPatch(const GlobalFlags& flags, const CommonFlags& common, const PatchFlags& patch_flags,
                const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(DryRun dry_run, ParseDryRun(patch_flags.dry_run));
  ASSIGN_OR_RETURN(auto targets, ParseTargets(args));
  if (targets.size() != 1 || targets[0].names.size() != 1) {
    return absl::InvalidArgumentError(
        "patch one object: dittoctl patch KIND NAME -p PATCH (or KIND/NAME)");
  }
  const Target& target = targets[0];
  const std::string& type = patch_flags.type;
  if (type != "json" && type != "merge" && type != "strategic") {
    return absl::InvalidArgumentError(fmt::format(
        "--type must be one of [json merge strategic], not \"{}\"", type));
  }
  if (type == "strategic" && IsCustomResource(*target.kind)) {
    return absl::InvalidArgumentError(fmt::format(
        "strategic merge patch is not supported for {} (a custom resource); use --type=merge "
        "or --type=json",
        target.kind->Resource()));
  }
  std::string text = patch_flags.patch;
  if (!patch_flags.patch_file.empty()) {
    if (!text.empty()) return absl::InvalidArgumentError("give -p or --patch-file, not both");
    host::LinuxHost host;
    ASSIGN_OR_RETURN(std::string path, AbsolutePath(host, patch_flags.patch_file));
    auto read = host.ReadFile(path);
    if (!read.ok()) {
      return absl::NotFoundError(fmt::format("cannot read --patch-file {}: {}",
                                             patch_flags.patch_file,
                                             std::string(read.status().message())));
    }
    text = *read;
  }
  if (text.empty()) {
    return absl::InvalidArgumentError(
        "must specify -p to patch, e.g. -p '{\"spec\":{\"resources\":{\"requests\":"
        "{\"storage\":\"2Gi\"}}}}'");
  }
  // The patch may be JSON or YAML, as kubectl accepts.
  Json patch = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded()) {
    auto documents = control::ParseYaml(text, "patch");
    if (!documents.ok() || documents->size() != 1) {
      return absl::InvalidArgumentError(fmt::format(
          "the patch is neither JSON nor a YAML mapping: {}",
          documents.ok() ? "expected one document" : std::string(documents.status().message())));
    }
    patch = (*documents)[0].object;
  }
  std::string ns = target.kind->namespaced ? Namespace(common) : "";
  const std::string& name = target.names[0];
  ASSIGN_OR_RETURN(auto session, Session::Open(flags, dry_run == DryRun::kNone ? Access::kWrite
                                                                                : Access::kRead));
  std::optional<Json> object;
  if (session->has_store()) {
    ASSIGN_OR_RETURN(object, control::GetObject(session->store(), std::string(target.kind->kind),
                                                ns, name));
  }
  if (!object.has_value()) {
    return absl::NotFoundError(fmt::format("{} \"{}\" not found", target.kind->Resource(), name));
  }
  ASSIGN_OR_RETURN(Json patched, PatchObject(*object, patch, type));
  std::string ref = target.kind->Ref(name);
  if (patched == *object) {
    std::cout << ref << " patched (no change)" << DryRunSuffix(dry_run) << "\n";
    return absl::OkStatus();
  }
  if (control::Name(patched) != name || control::Kind(patched) != control::Kind(*object) ||
      control::Namespace(patched) != control::Namespace(*object)) {
    return absl::InvalidArgumentError(
        "a patch cannot change kind, metadata.name or metadata.namespace; create a new object "
        "instead");
  }
  control::Document document;
  document.file = fmt::format("patch of {}", ref);
  document.object = patched;
  control::ApplyOptions options;
  options.default_namespace = ns.empty() ? "default" : ns;
  options.dry_run = dry_run != DryRun::kNone;
  if (options.dry_run) {
    RETURN_IF_ERROR(control::Apply(session->store(), {document}, options).status());
  } else {
    RETURN_IF_ERROR(session->plane().Apply({document}, options).status());
  }
  std::cout << ref << " patched" << DryRunSuffix(dry_run) << "\n";
  return absl::OkStatus();
}

}  // namespace

void RegisterPatchCommands(CLI::App& app, GlobalFlags* flags, int* exit_code) {
  auto* sub = app.add_subcommand(
      "patch", "Change fields of an object: merge patch, JSON patch or strategic merge patch");
  auto common = std::make_shared<CommonFlags>();
  auto patch = std::make_shared<PatchFlags>();
  auto args = std::make_shared<std::vector<std::string>>();
  sub->add_option("args", *args, "KIND NAME | KIND/NAME")->required();
  sub->add_option("-p,--patch", patch->patch, "The patch, JSON or YAML");
  sub->add_option("--patch-file", patch->patch_file, "A file holding the patch");
  sub->add_option("--type", patch->type, "strategic (default), merge or json");
  sub->add_option("--dry-run", patch->dry_run, "client|server: check and print, store nothing");
  AddNamespace(sub, common.get());
  sub->callback([=] { Finish(RunPatch(*flags, *common, *patch, *args), exit_code); });
}

}  // namespace ditto::cli
