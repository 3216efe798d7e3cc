#include "deploy/manifests.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace ditto::deploy {

std::string SourceDir() { return DITTO_SOURCE_DIR; }

std::vector<std::string> YamlFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") {
      files.push_back(entry.path().filename().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<Manifest> LoadManifests(const std::string& dir) {
  std::vector<Manifest> manifests;
  for (const std::string& file : YamlFiles(dir)) {
    if (file == "kustomization.yaml") continue;
    for (const YAML::Node& doc : YAML::LoadAllFromFile(dir + "/" + file)) {
      if (!doc || doc.IsNull()) continue;
      manifests.push_back({file, doc});
    }
  }
  return manifests;
}

std::vector<Manifest> FindAll(const std::vector<Manifest>& manifests, const std::string& kind) {
  std::vector<Manifest> found;
  for (const Manifest& m : manifests) {
    if (m.kind() == kind) found.push_back(m);
  }
  return found;
}

std::optional<Manifest> Find(const std::vector<Manifest>& manifests, const std::string& kind,
                             const std::string& name) {
  std::optional<Manifest> found;
  for (const Manifest& m : manifests) {
    if (m.kind() != kind || (!name.empty() && m.name() != name)) continue;
    if (found) throw std::runtime_error("more than one " + kind + " " + name);
    found = m;
  }
  return found;
}

YAML::Node Container(const YAML::Node& pod_spec, const std::string& name) {
  for (const YAML::Node& c : pod_spec["containers"]) {
    if (c["name"].as<std::string>("") == name) return c;
  }
  return YAML::Node();
}

std::vector<std::string> Args(const YAML::Node& container) {
  std::vector<std::string> args;
  for (const YAML::Node& a : container["args"]) args.push_back(a.as<std::string>());
  return args;
}

std::optional<std::string> Arg(const YAML::Node& container, const std::string& flag) {
  std::vector<std::string> args = Args(container);
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind(flag + "=", 0) == 0) return args[i].substr(flag.size() + 1);
    if (args[i] == flag) {
      if (i + 1 < args.size() && args[i + 1].rfind("-", 0) != 0) return args[i + 1];
      return std::string();  // a boolean flag
    }
  }
  return std::nullopt;
}

std::string ImageName(const std::string& image) {
  std::string path = image.substr(0, image.find('@'));
  size_t slash = path.rfind('/');
  std::string last = slash == std::string::npos ? path : path.substr(slash + 1);
  return last.substr(0, last.find(':'));
}

std::string ImageTag(const std::string& image) {
  std::string path = image.substr(0, image.find('@'));
  size_t slash = path.rfind('/');
  size_t colon = path.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return "";
  return path.substr(colon + 1);
}

std::vector<int> ParseVersion(const std::string& tag) {
  std::vector<int> parts;
  if (tag.size() < 2 || tag[0] != 'v') return {};
  size_t pos = 1;
  while (pos <= tag.size()) {
    size_t dot = tag.find('.', pos);
    std::string part = tag.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (part.empty() || !std::all_of(part.begin(), part.end(), ::isdigit)) return {};
    parts.push_back(std::stoi(part));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return parts.size() == 3 ? parts : std::vector<int>{};
}

void CollectScalars(const YAML::Node& node, std::vector<std::string>& out) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      out.push_back(node.Scalar());
      break;
    case YAML::NodeType::Sequence:
      for (const YAML::Node& child : node) CollectScalars(child, out);
      break;
    case YAML::NodeType::Map:
      for (const auto& kv : node) {
        CollectScalars(kv.first, out);
        CollectScalars(kv.second, out);
      }
      break;
    default:
      break;
  }
}

}  // namespace ditto::deploy
