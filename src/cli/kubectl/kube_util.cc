#include "cli/kubectl/kube_util.h"

#include <algorithm>
#include <iostream>
#include <iterator>
#include <sstream>

#include "fmt/format.h"
#include "host/linux_host.h"

namespace ditto::cli {

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

std::string Namespace(const CommonFlags& common) {
  return common.ns.empty() ? "default" : common.ns;
}

CLI::Option* AddNamespace(CLI::App* sub, CommonFlags* common) {
  return sub->add_option("-n,--namespace", common->ns, "Namespace (default: default)");
}

StatusOr<const control::KindInfo*> ResolveKindOrError(const std::string& text) {
  const control::KindInfo* kind = control::ResolveKind(text);
  if (kind == nullptr) {
    return absl::InvalidArgumentError(fmt::format(
        "the server doesn't have a resource type \"{}\"; known: pvc, pv, sc, vac, ns, vs, vsclass, "
        "vsc, referencegrant, events",
        text));
  }
  return kind;
}

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
      ASSIGN_OR_RETURN(const control::KindInfo* kind, ResolveKindOrError(arg.substr(0, slash)));
      targets.push_back({kind, {arg.substr(slash + 1)}});
    }
    return targets;
  }
  std::stringstream kinds(args[0]);
  std::string item;
  while (std::getline(kinds, item, ',')) {
    ASSIGN_OR_RETURN(const control::KindInfo* kind, ResolveKindOrError(item));
    targets.push_back({kind, {args.begin() + 1, args.end()}});
  }
  return targets;
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

StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text, const std::string& flag) {
  if (text.empty()) return absl::InvalidArgumentError(fmt::format("empty {}", flag));
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) {
    return absl::InvalidArgumentError(
        fmt::format("invalid {} \"{}\"; use e.g. 30s, 2m or 1h", flag, text));
  }
  int64_t value = std::stoll(text.substr(0, digits));
  std::string unit = text.substr(digits);
  if (unit == "ms") return std::chrono::milliseconds(value);
  if (unit.empty() || unit == "s") return std::chrono::milliseconds(value * 1000);
  if (unit == "m") return std::chrono::milliseconds(value * 60000);
  if (unit == "h") return std::chrono::milliseconds(value * 3600000);
  return absl::InvalidArgumentError(
      fmt::format("invalid {} \"{}\"; use e.g. 30s, 2m or 1h", flag, text));
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

StatusOr<DryRun> ParseDryRun(const std::string& text) {
  if (text.empty() || text == "none") return DryRun::kNone;
  if (text == "client") return DryRun::kClient;
  if (text == "server") return DryRun::kServer;
  return absl::InvalidArgumentError(fmt::format(
      "Invalid dry-run value ({}). Must be \"none\", \"server\", or \"client\".", text));
}

std::string DryRunSuffix(DryRun dry_run) {
  switch (dry_run) {
    case DryRun::kClient:
      return " (dry run)";
    case DryRun::kServer:
      return " (server dry run)";
    case DryRun::kNone:
      break;
  }
  return "";
}

StatusOr<std::unique_ptr<Session>> OpenSession(const GlobalFlags& flags, Access access) {
  ASSIGN_OR_RETURN(auto session, Session::Open(flags, access));
  if (session->has_plane()) RETURN_IF_ERROR(session->plane().Reconcile());
  return session;
}

}  // namespace ditto::cli
