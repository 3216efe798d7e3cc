// Loading and querying the manifests under deploy/kubernetes for the
// consistency tests.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

namespace ditto::deploy {

struct Manifest {
  std::string file;  // relative to the manifest directory
  YAML::Node object;
  std::string kind() const { return object["kind"].as<std::string>(""); }
  std::string name() const { return object["metadata"]["name"].as<std::string>(""); }
  std::string ns() const { return object["metadata"]["namespace"].as<std::string>(""); }
};

// The repository's root directory.
std::string SourceDir();

// Every non-empty YAML document of every *.yaml file directly in `dir`
// (sorted by file name), except kustomization.yaml.
std::vector<Manifest> LoadManifests(const std::string& dir);
// The *.yaml file names directly in `dir`.
std::vector<std::string> YamlFiles(const std::string& dir);

// The only object of this kind (and name, when given); nullopt if none.
std::optional<Manifest> Find(const std::vector<Manifest>& manifests, const std::string& kind,
                             const std::string& name = "");
std::vector<Manifest> FindAll(const std::vector<Manifest>& manifests, const std::string& kind);

// A container of a pod spec by name (null node if absent).
YAML::Node Container(const YAML::Node& pod_spec, const std::string& name);
// The value of "--flag=value" or "--flag value" in a container's args.
std::optional<std::string> Arg(const YAML::Node& container, const std::string& flag);
std::vector<std::string> Args(const YAML::Node& container);
// "registry.k8s.io/sig-storage/csi-provisioner:v5.2.0" -> "csi-provisioner".
std::string ImageName(const std::string& image);
std::string ImageTag(const std::string& image);  // "" when untagged
// "v5.2.0" -> {5, 2, 0}; empty when not a vX.Y.Z tag.
std::vector<int> ParseVersion(const std::string& tag);

// Every scalar in `node`, recursively (keys included).
void CollectScalars(const YAML::Node& node, std::vector<std::string>& out);

}  // namespace ditto::deploy
