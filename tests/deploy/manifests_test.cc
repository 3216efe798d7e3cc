// The manifests under deploy/kubernetes must agree with each other, with the
// Dockerfile and with the code: driver name, socket paths, topology key, the
// RBAC each sidecar needs, dittod's flags, pinned images. Any drift fails here.
#include "deploy/manifests.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "csi/driver.h"
#include "csi/validation.h"
#include "host/linux_host.h"

namespace ditto::deploy {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

const std::string kDir = SourceDir() + "/deploy/kubernetes";
const std::string kExamplesDir = kDir + "/examples";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manifests_ = LoadManifests(kDir);
    ASSERT_FALSE(manifests_.empty()) << "no manifests in " << kDir;
    auto daemonset = Find(manifests_, "DaemonSet");
    ASSERT_TRUE(daemonset) << "no DaemonSet in " << kDir;
    daemonset_ = daemonset->object;
    pod_ = daemonset_["spec"]["template"]["spec"];
    dittod_ = Container(pod_, "dittod");
    ASSERT_TRUE(dittod_) << "the DaemonSet has no dittod container";
  }

  // The container running the given sidecar image (null if absent).
  YAML::Node Sidecar(const std::string& image_name) const {
    for (const YAML::Node& c : pod_["containers"]) {
      if (ImageName(c["image"].as<std::string>("")) == image_name) return c;
    }
    return YAML::Node();
  }

  // The volume a container mounts at `mount_path`, and the host path behind it.
  std::string VolumeMountedAt(const YAML::Node& container, const std::string& mount_path) const {
    for (const YAML::Node& m : container["volumeMounts"]) {
      if (m["mountPath"].as<std::string>("") == mount_path) return m["name"].as<std::string>();
    }
    return "";
  }
  YAML::Node Volume(const std::string& name) const {
    for (const YAML::Node& v : pod_["volumes"]) {
      if (v["name"].as<std::string>("") == name) return v;
    }
    return YAML::Node();
  }
  std::string DriverName() const {
    return Arg(dittod_, "--driver-name").value_or(csi::DriverOptions().driver_name);
  }

  std::vector<Manifest> manifests_;
  YAML::Node daemonset_, pod_, dittod_;
};

TEST_F(ManifestsTest, KustomizationListsEveryManifest) {
  YAML::Node kustomization = YAML::LoadFile(kDir + "/kustomization.yaml");
  std::vector<std::string> listed;
  for (const YAML::Node& r : kustomization["resources"]) listed.push_back(r.as<std::string>());
  std::vector<std::string> files = YamlFiles(kDir);
  files.erase(std::remove(files.begin(), files.end(), "kustomization.yaml"), files.end());
  EXPECT_THAT(listed, UnorderedElementsAreArray(files))
      << "deploy/kubernetes/kustomization.yaml must list exactly the manifests in the directory";
}

TEST_F(ManifestsTest, DriverNameAgreesEverywhere) {
  const std::string name = csi::DriverOptions().driver_name;
  auto driver = Find(manifests_, "CSIDriver");
  ASSERT_TRUE(driver);
  EXPECT_EQ(driver->name(), name);
  EXPECT_EQ(DriverName(), name);
  auto storage_class = Find(manifests_, "StorageClass");
  ASSERT_TRUE(storage_class);
  EXPECT_EQ(storage_class->object["provisioner"].as<std::string>(""), name);
  auto snapshot_class = Find(manifests_, "VolumeSnapshotClass");
  ASSERT_TRUE(snapshot_class);
  EXPECT_EQ(snapshot_class->object["driver"].as<std::string>(""), name);
}

TEST_F(ManifestsTest, CsiDriverDescribesNodeLocalVolumes) {
  auto driver = Find(manifests_, "CSIDriver");
  ASSERT_TRUE(driver);
  YAML::Node spec = driver->object["spec"];
  EXPECT_FALSE(spec["attachRequired"].as<bool>(true));
  EXPECT_TRUE(spec["podInfoOnMount"].as<bool>(false));
  EXPECT_EQ(spec["fsGroupPolicy"].as<std::string>(""), "File");
  EXPECT_TRUE(spec["storageCapacity"].as<bool>(false));
  ASSERT_EQ(spec["volumeLifecycleModes"].size(), 1u);
  EXPECT_EQ(spec["volumeLifecycleModes"][0].as<std::string>(), "Persistent");
}

TEST_F(ManifestsTest, StorageClassesWaitForTheirFirstConsumerAndExpand) {
  auto storage_class = Find(manifests_, "StorageClass");
  ASSERT_TRUE(storage_class);
  EXPECT_EQ(storage_class->object["volumeBindingMode"].as<std::string>(""), "WaitForFirstConsumer");
  EXPECT_TRUE(storage_class->object["allowVolumeExpansion"].as<bool>(false));
  for (const auto& kv : storage_class->object["parameters"]) {
    std::string key = kv.first.as<std::string>();
    bool known = key == csi::kParamFsType || key == csi::kParamThick ||
                 key.rfind(csi::kKubernetesParamPrefix, 0) == 0;
    EXPECT_TRUE(known) << "StorageClass parameter " << key << " is not one dittod accepts";
  }
  auto snapshot_class = Find(manifests_, "VolumeSnapshotClass");
  ASSERT_TRUE(snapshot_class);
  EXPECT_EQ(snapshot_class->object["deletionPolicy"].as<std::string>(""), "Delete");
}

TEST_F(ManifestsTest, SocketPathsAgree) {
  // dittod listens on unix://<dir>/<file>, <dir> being a mounted volume.
  std::optional<std::string> endpoint = Arg(dittod_, "--endpoint");
  ASSERT_TRUE(endpoint) << "dittod has no --endpoint";
  const std::string scheme = "unix://";
  ASSERT_EQ(endpoint->rfind(scheme, 0), 0u) << *endpoint;
  std::string socket = endpoint->substr(scheme.size());
  std::string socket_dir = socket.substr(0, socket.rfind('/'));
  std::string socket_file = socket.substr(socket.rfind('/') + 1);
  std::string volume = VolumeMountedAt(dittod_, socket_dir);
  ASSERT_FALSE(volume.empty()) << "dittod does not mount a volume at " << socket_dir;
  std::string host_dir = Volume(volume)["hostPath"]["path"].as<std::string>("");
  while (!host_dir.empty() && host_dir.back() == '/') host_dir.pop_back();
  EXPECT_EQ(host_dir, "/var/lib/kubelet/plugins/" + DriverName())
      << "the socket directory on the host must be kubelet's plugin directory for the driver";

  // Every sidecar reaches the same socket through the same volume.
  int sidecars = 0;
  for (const YAML::Node& c : pod_["containers"]) {
    std::optional<std::string> address = Arg(c, "--csi-address");
    if (!address) continue;
    ++sidecars;
    std::string name = c["name"].as<std::string>();
    std::string dir = address->substr(0, address->rfind('/'));
    EXPECT_EQ(address->substr(address->rfind('/') + 1), socket_file) << name;
    EXPECT_EQ(VolumeMountedAt(c, dir), volume)
        << name << " must mount volume " << volume << " at " << dir;
  }
  EXPECT_EQ(sidecars, 5);

  // kubelet is told the host path of that socket.
  YAML::Node registrar = Sidecar("csi-node-driver-registrar");
  ASSERT_TRUE(registrar);
  EXPECT_EQ(Arg(registrar, "--kubelet-registration-path").value_or(""),
            host_dir + "/" + socket_file);
  std::string registration = VolumeMountedAt(registrar, "/registration");
  ASSERT_FALSE(registration.empty()) << "the registrar must mount /registration";
  std::string registration_dir = Volume(registration)["hostPath"]["path"].as<std::string>("");
  while (!registration_dir.empty() && registration_dir.back() == '/') registration_dir.pop_back();
  EXPECT_EQ(registration_dir, "/var/lib/kubelet/plugins_registry");
}

TEST_F(ManifestsTest, DittodIsPrivilegedWithKubeletDevAndPool) {
  EXPECT_TRUE(dittod_["securityContext"]["privileged"].as<bool>(false));
  std::map<std::string, YAML::Node> mounts;
  for (const YAML::Node& m : dittod_["volumeMounts"]) {
    mounts[m["mountPath"].as<std::string>()] = m;
  }
  ASSERT_TRUE(mounts.count("/var/lib/kubelet"));
  EXPECT_EQ(mounts["/var/lib/kubelet"]["mountPropagation"].as<std::string>(""), "Bidirectional");
  EXPECT_EQ(Volume(mounts["/var/lib/kubelet"]["name"].as<std::string>())["hostPath"]["path"]
                .as<std::string>(""),
            "/var/lib/kubelet");
  ASSERT_TRUE(mounts.count("/dev"));
  EXPECT_EQ(
      Volume(mounts["/dev"]["name"].as<std::string>())["hostPath"]["path"].as<std::string>(""),
      "/dev");

  // The pool lives on the host (it survives the pod), under a mounted directory.
  std::string pool = Arg(dittod_, "--pool").value_or("");
  ASSERT_FALSE(pool.empty()) << "dittod has no --pool";
  bool on_host = false;
  for (const auto& [path, mount] : mounts) {
    if (pool.rfind(path + "/", 0) != 0 || path == "/var/lib/kubelet") continue;
    YAML::Node volume = Volume(mount["name"].as<std::string>());
    on_host = volume["hostPath"].IsDefined();
    EXPECT_EQ(mount["mountPropagation"].as<std::string>(""), "Bidirectional")
        << "a pool's backing-file mount must outlive the container";
  }
  EXPECT_TRUE(on_host) << "--pool " << pool << " is not under a hostPath volume";
}

TEST_F(ManifestsTest, NodeNameReachesDittodAndDistributedSidecars) {
  auto node_name_env = [](const YAML::Node& c) {
    for (const YAML::Node& e : c["env"]) {
      if (e["name"].as<std::string>("") == "NODE_NAME") {
        return e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>("") == "spec.nodeName";
      }
    }
    return false;
  };
  EXPECT_TRUE(node_name_env(dittod_));
  EXPECT_EQ(Arg(dittod_, "--node-id").value_or(""), "$(NODE_NAME)");

  YAML::Node provisioner = Sidecar("csi-provisioner");
  ASSERT_TRUE(provisioner);
  EXPECT_TRUE(node_name_env(provisioner));
  EXPECT_EQ(Arg(provisioner, "--node-deployment").value_or("-"), "true");
  EXPECT_EQ(Arg(provisioner, "--feature-gates").value_or(""), "Topology=true");
  EXPECT_TRUE(Arg(provisioner, "--enable-capacity"));
  EXPECT_TRUE(Arg(provisioner, "--extra-create-metadata"));
  // CSIStorageCapacity objects are owned by the DaemonSet (pod -> DaemonSet),
  // found from the pod's name and namespace.
  EXPECT_EQ(Arg(provisioner, "--capacity-ownerref-level").value_or(""), "1");
  std::set<std::string> env;
  for (const YAML::Node& e : provisioner["env"]) env.insert(e["name"].as<std::string>());
  EXPECT_THAT(env, Contains("POD_NAME"));
  EXPECT_THAT(env, Contains("NAMESPACE"));

  YAML::Node snapshotter = Sidecar("csi-snapshotter");
  ASSERT_TRUE(snapshotter);
  EXPECT_TRUE(node_name_env(snapshotter));
  EXPECT_EQ(Arg(snapshotter, "--node-deployment").value_or("-"), "true");
}

TEST_F(ManifestsTest, GroupSnapshotsAndVolumeModificationAreTurnedOn) {
  const std::string driver = csi::DriverOptions().driver_name;
  EXPECT_EQ(Arg(Sidecar("csi-snapshotter"), "--feature-gates").value_or(""),
            "CSIVolumeGroupSnapshot=true");
  EXPECT_EQ(Arg(Sidecar("csi-resizer"), "--feature-gates").value_or(""),
            "VolumeAttributesClass=true");
  auto group_class = Find(manifests_, "VolumeGroupSnapshotClass", "ditto");
  ASSERT_TRUE(group_class) << "no default VolumeGroupSnapshotClass";
  EXPECT_EQ(group_class->object["apiVersion"].as<std::string>(""),
            "groupsnapshot.storage.k8s.io/v1beta2");
  EXPECT_EQ(group_class->object["driver"].as<std::string>(""), driver);
  EXPECT_EQ(group_class->object["metadata"]["annotations"]
                               ["groupsnapshot.storage.kubernetes.io/is-default-class"]
                .as<std::string>(""),
            "true");
  for (const char* name : {"ditto-thin", "ditto-thick"}) {
    auto attributes = Find(manifests_, "VolumeAttributesClass", name);
    ASSERT_TRUE(attributes) << "no VolumeAttributesClass " << name;
    EXPECT_EQ(attributes->object["driverName"].as<std::string>(""), driver);
    EXPECT_EQ(attributes->object["parameters"]["provisioning"].as<std::string>(""),
              std::string(name).substr(6));
  }
}

TEST_F(ManifestsTest, TopologyKeyMatchesTheDriver) {
  // Every topology key naming ditto, in the manifests, the examples and the
  // docs, is the one dittod reports.
  const std::regex key_pattern(R"(topology\.[A-Za-z0-9./-]*ditto[A-Za-z0-9./-]*)");
  int found = 0;
  auto check = [&](const std::string& text, const std::string& where) {
    for (std::sregex_iterator it(text.begin(), text.end(), key_pattern), end; it != end; ++it) {
      ++found;
      EXPECT_EQ(it->str(), csi::kTopologyKey) << "in " << where;
    }
  };
  for (const std::string& file : YamlFiles(kDir)) check(ReadFile(kDir + "/" + file), file);
  for (const std::string& file : YamlFiles(kExamplesDir)) {
    check(ReadFile(kExamplesDir + "/" + file), "examples/" + file);
  }
  check(ReadFile(SourceDir() + "/docs/kubernetes.md"), "docs/kubernetes.md");
  check(ReadFile(SourceDir() + "/README.md"), "README.md");
  EXPECT_GT(found, 0) << "the examples and docs should show how to pin a pod with the key";
}

// What each sidecar does with the API server, from the kubernetes-csi RBAC
// for these releases, narrowed to the features the DaemonSet turns on.
struct Rule {
  std::string group, resource, verb;
  bool namespaced = false;  // may be granted by a Role in the DaemonSet's namespace
};
std::vector<Rule> Expand(const std::string& group, const std::string& resource,
                         std::vector<std::string> verbs, bool namespaced = false) {
  std::vector<Rule> rules;
  for (auto& v : verbs) rules.push_back({group, resource, v, namespaced});
  return rules;
}
std::map<std::string, std::vector<Rule>> RequiredRules() {
  std::map<std::string, std::vector<std::vector<Rule>>> groups = {
      {"csi-provisioner",
       {Expand("", "persistentvolumes", {"get", "list", "watch", "create", "patch", "delete"}),
        Expand("", "persistentvolumeclaims", {"get", "list", "watch", "update"}),
        Expand("storage.k8s.io", "storageclasses", {"get", "list", "watch"}),
        Expand("", "events", {"list", "watch", "create", "update", "patch"}),
        Expand("snapshot.storage.k8s.io", "volumesnapshots", {"get", "list"}),
        Expand("snapshot.storage.k8s.io", "volumesnapshotcontents", {"get", "list"}),
        Expand("storage.k8s.io", "csinodes", {"get", "list", "watch"}),
        Expand("", "nodes", {"get", "list", "watch"}),
        // --enable-capacity with an owner reference.
        Expand("storage.k8s.io", "csistoragecapacities",
               {"get", "list", "watch", "create", "update", "patch", "delete"}, true),
        Expand("", "pods", {"get"}, true)}},
      {"csi-snapshotter",
       {Expand("", "events", {"list", "watch", "create", "update", "patch"}),
        Expand("snapshot.storage.k8s.io", "volumesnapshotclasses", {"get", "list", "watch"}),
        Expand("snapshot.storage.k8s.io", "volumesnapshotcontents",
               {"get", "list", "watch", "update", "patch"}),
        Expand("snapshot.storage.k8s.io", "volumesnapshotcontents/status", {"update", "patch"}),
        // --feature-gates=CSIVolumeGroupSnapshot=true
        Expand("groupsnapshot.storage.k8s.io", "volumegroupsnapshotclasses",
               {"get", "list", "watch"}),
        Expand("groupsnapshot.storage.k8s.io", "volumegroupsnapshotcontents",
               {"get", "list", "watch", "update", "patch"}),
        Expand("groupsnapshot.storage.k8s.io", "volumegroupsnapshotcontents/status",
               {"update", "patch"})}},
      {"csi-resizer",
       {Expand("", "persistentvolumes", {"get", "list", "watch", "patch"}),
        Expand("", "persistentvolumeclaims", {"get", "list", "watch"}),
        Expand("", "persistentvolumeclaims/status", {"patch"}),
        Expand("", "events", {"list", "watch", "create", "update", "patch"}),
        // --feature-gates=VolumeAttributesClass=true
        Expand("storage.k8s.io", "volumeattributesclasses", {"get", "list", "watch"})}},
      {"csi-node-driver-registrar", {}},
      {"livenessprobe", {}},
  };
  std::map<std::string, std::vector<Rule>> flat;
  for (auto& [sidecar, lists] : groups) {
    flat[sidecar];
    for (auto& list : lists) flat[sidecar].insert(flat[sidecar].end(), list.begin(), list.end());
  }
  return flat;
}

TEST_F(ManifestsTest, ServiceAccountGrantsWhatEachSidecarNeeds) {
  const std::string account = pod_["serviceAccountName"].as<std::string>("");
  const std::string ns = daemonset_["metadata"]["namespace"].as<std::string>("");
  ASSERT_FALSE(account.empty());
  ASSERT_TRUE(Find(manifests_, "ServiceAccount", account)) << "no ServiceAccount " << account;
  EXPECT_EQ(Find(manifests_, "ServiceAccount", account)->ns(), ns);

  // (group, resource, verb, namespaced) granted to the account.
  std::set<std::tuple<std::string, std::string, std::string, bool>> granted;
  auto grant = [&](const std::string& role_kind, const std::string& role_name, bool namespaced) {
    auto role = Find(manifests_, role_kind, role_name);
    ASSERT_TRUE(role) << "binding to missing " << role_kind << " " << role_name;
    if (namespaced) {
      EXPECT_EQ(role->ns(), ns) << role_name;
    }
    for (const YAML::Node& rule : role->object["rules"]) {
      for (const YAML::Node& g : rule["apiGroups"]) {
        for (const YAML::Node& r : rule["resources"]) {
          for (const YAML::Node& v : rule["verbs"]) {
            EXPECT_NE(v.as<std::string>(), "*") << role_name << ": no wildcard verbs";
            EXPECT_NE(r.as<std::string>(), "*") << role_name << ": no wildcard resources";
            granted.insert(
                {g.as<std::string>(), r.as<std::string>(), v.as<std::string>(), namespaced});
          }
        }
      }
    }
  };
  for (const std::string binding_kind : {"ClusterRoleBinding", "RoleBinding"}) {
    for (const Manifest& binding : FindAll(manifests_, binding_kind)) {
      bool ours = false;
      for (const YAML::Node& s : binding.object["subjects"]) {
        ours |= s["kind"].as<std::string>("") == "ServiceAccount" &&
                s["name"].as<std::string>("") == account &&
                s["namespace"].as<std::string>("") == ns;
      }
      if (!ours) continue;
      std::string role_kind = binding.object["roleRef"]["kind"].as<std::string>();
      grant(role_kind, binding.object["roleRef"]["name"].as<std::string>(), role_kind == "Role");
    }
  }

  for (const auto& [sidecar, rules] : RequiredRules()) {
    ASSERT_TRUE(Sidecar(sidecar)) << "the DaemonSet runs no " << sidecar;
    for (const Rule& r : rules) {
      bool ok = granted.count({r.group, r.resource, r.verb, false}) ||
                (r.namespaced && granted.count({r.group, r.resource, r.verb, true}));
      EXPECT_TRUE(ok) << sidecar << " needs " << r.verb << " on " << r.resource << " (group \""
                      << r.group << "\")";
    }
  }
}

// dittod finds the other nodes from their Node objects (read-only RBAC of
// its own), and starts without the optional TLS Secret.
TEST_F(ManifestsTest, DittodReadsNodesToFindPeersAndStartsWithoutTheSecret) {
  std::vector<std::string> args = Args(dittod_);
  auto has = [&](const std::string& arg) {
    return std::find(args.begin(), args.end(), arg) != args.end();
  };
  ASSERT_TRUE(has("--peer-discovery=kubernetes"));
  EXPECT_TRUE(has("--peer-listen=0.0.0.0:9811"));
  EXPECT_TRUE(has("--peer-tls-dir=/etc/ditto/peer-tls"));
  bool secret_optional = false;
  for (const YAML::Node& v : pod_["volumes"]) {
    if (v["secret"] && v["secret"]["secretName"].as<std::string>("") == "ditto-peer-tls") {
      secret_optional = v["secret"]["optional"].as<bool>(false);
    }
  }
  EXPECT_EQ(has("--peer-tls-optional"), secret_optional)
      << "an optional Secret needs --peer-tls-optional, a required one must not hide its absence";

  const std::string account = pod_["serviceAccountName"].as<std::string>("");
  auto role = Find(manifests_, "ClusterRole", "ditto-node-peers");
  ASSERT_TRUE(role);
  std::set<std::string> verbs;
  for (const YAML::Node& rule : role->object["rules"]) {
    for (const YAML::Node& r : rule["resources"]) {
      EXPECT_EQ(r.as<std::string>(), "nodes") << "dittod reads Nodes only";
    }
    for (const YAML::Node& v : rule["verbs"]) verbs.insert(v.as<std::string>());
  }
  EXPECT_EQ(verbs, (std::set<std::string>{"get", "list", "watch"})) << "read-only";
  bool bound = false;
  for (const Manifest& binding : FindAll(manifests_, "ClusterRoleBinding")) {
    if (binding.object["roleRef"]["name"].as<std::string>("") != "ditto-node-peers") continue;
    for (const YAML::Node& subject : binding.object["subjects"]) {
      bound |= subject["name"].as<std::string>("") == account;
    }
  }
  EXPECT_TRUE(bound) << "ditto-node-peers is not bound to " << account;
}

// The csi-snapshotter runs with --node-deployment, so it sees only snapshot
// contents labelled with its node: dittod labels the group and pre-provisioned
// ones, and its account may read and patch exactly those.
TEST_F(ManifestsTest, DittodLabelsSnapshotContentsForTheNodesSnapshotter) {
  std::vector<std::string> args = Args(dittod_);
  EXPECT_NE(std::find(args.begin(), args.end(), "--label-snapshot-contents"), args.end());
  const std::string account = pod_["serviceAccountName"].as<std::string>("");
  auto role = Find(manifests_, "ClusterRole", "ditto-node-snapshot-labels");
  ASSERT_TRUE(role);
  std::map<std::string, std::set<std::string>> verbs;
  for (const YAML::Node& rule : role->object["rules"]) {
    for (const YAML::Node& g : rule["apiGroups"]) {
      for (const YAML::Node& r : rule["resources"]) {
        for (const YAML::Node& v : rule["verbs"]) {
          verbs[g.as<std::string>() + "/" + r.as<std::string>()].insert(v.as<std::string>());
        }
      }
    }
  }
  EXPECT_EQ(verbs["snapshot.storage.k8s.io/volumesnapshotcontents"],
            (std::set<std::string>{"get", "list", "patch"}));
  EXPECT_EQ(verbs["groupsnapshot.storage.k8s.io/volumegroupsnapshotcontents"],
            (std::set<std::string>{"get", "list", "patch"}));
  EXPECT_EQ(verbs["groupsnapshot.storage.k8s.io/volumegroupsnapshotclasses"],
            (std::set<std::string>{"get"}));
  EXPECT_EQ(verbs.size(), 3u) << "nothing else";
  bool bound = false;
  for (const Manifest& binding : FindAll(manifests_, "ClusterRoleBinding")) {
    if (binding.object["roleRef"]["name"].as<std::string>("") != "ditto-node-snapshot-labels") {
      continue;
    }
    for (const YAML::Node& subject : binding.object["subjects"]) {
      bound |= subject["name"].as<std::string>("") == account;
    }
  }
  EXPECT_TRUE(bound) << "ditto-node-snapshot-labels is not bound to " << account;
}

TEST_F(ManifestsTest, SnapshotMetadataComponentFitsTheDaemonSet) {
  const std::string dir = kDir + "/components/snapshot-metadata";
  std::vector<Manifest> component = LoadManifests(dir);
  YAML::Node kustomization = YAML::LoadFile(dir + "/kustomization.yaml");
  EXPECT_EQ(kustomization["kind"].as<std::string>(""), "Component");
  std::vector<std::string> listed;
  for (const YAML::Node& r : kustomization["resources"]) listed.push_back(r.as<std::string>());
  for (const YAML::Node& p : kustomization["patches"]) listed.push_back(p["path"].as<std::string>());
  std::vector<std::string> files = YamlFiles(dir);
  files.erase(std::remove(files.begin(), files.end(), "kustomization.yaml"), files.end());
  EXPECT_THAT(listed, UnorderedElementsAreArray(files));

  // The sidecar patch: same DaemonSet, the driver's socket, a TLS secret.
  auto patch = Find(component, "DaemonSet", daemonset_["metadata"]["name"].as<std::string>(""));
  ASSERT_TRUE(patch) << "the component does not patch the DaemonSet";
  YAML::Node patch_pod = patch->object["spec"]["template"]["spec"];
  YAML::Node sidecar = Container(patch_pod, "csi-snapshot-metadata");
  ASSERT_TRUE(sidecar);
  EXPECT_EQ(ImageName(sidecar["image"].as<std::string>("")), "csi-snapshot-metadata");
  EXPECT_GE(ParseVersion(ImageTag(sidecar["image"].as<std::string>(""))),
            (std::vector<int>{1, 0, 0}));
  std::string socket_volume = VolumeMountedAt(Sidecar("csi-provisioner"), "/csi");
  EXPECT_EQ(VolumeMountedAt(sidecar, "/csi"), socket_volume);
  EXPECT_EQ(Arg(sidecar, "--csi-address").value_or(""),
            Arg(Sidecar("csi-provisioner"), "--csi-address").value_or("-"));
  EXPECT_TRUE(Arg(sidecar, "--tls-cert"));
  EXPECT_TRUE(Arg(sidecar, "--tls-key"));

  // The Service reaches those pods, on the sidecar's port, on their own node.
  auto service = Find(component, "Service");
  ASSERT_TRUE(service);
  EXPECT_EQ(service->ns(), daemonset_["metadata"]["namespace"].as<std::string>(""));
  for (const auto& entry : service->object["spec"]["selector"]) {
    EXPECT_EQ(daemonset_["spec"]["template"]["metadata"]["labels"][entry.first.as<std::string>()]
                  .as<std::string>(""),
              entry.second.as<std::string>());
  }
  EXPECT_EQ(service->object["spec"]["internalTrafficPolicy"].as<std::string>(""), "Local");
  EXPECT_EQ(service->object["spec"]["ports"][0]["targetPort"].as<std::string>(""),
            sidecar["ports"][0]["name"].as<std::string>("-"));

  // RBAC for TokenReview and SubjectAccessReview, bound to the pods' account.
  auto role = Find(component, "ClusterRole");
  ASSERT_TRUE(role);
  std::set<std::string> resources;
  for (const YAML::Node& rule : role->object["rules"]) {
    for (const YAML::Node& r : rule["resources"]) resources.insert(r.as<std::string>());
  }
  for (const char* needed : {"tokenreviews", "subjectaccessreviews", "snapshotmetadataservices",
                             "volumesnapshots", "volumesnapshotcontents"}) {
    EXPECT_TRUE(resources.count(needed)) << needed;
  }
  auto binding = Find(component, "ClusterRoleBinding");
  ASSERT_TRUE(binding);
  EXPECT_EQ(binding->object["subjects"][0]["name"].as<std::string>(""),
            pod_["serviceAccountName"].as<std::string>(""));
}

TEST_F(ManifestsTest, ImagesArePinnedToSidecarsThatSpeakCsi112) {
  const std::map<std::string, std::vector<int>> minimum = {
      {"csi-provisioner", {5, 0, 0}}, {"csi-snapshotter", {8, 4, 0}},
      {"csi-resizer", {1, 12, 0}},    {"csi-node-driver-registrar", {2, 12, 0}},
      {"livenessprobe", {2, 14, 0}},
  };
  for (const YAML::Node& c : pod_["containers"]) {
    std::string image = c["image"].as<std::string>("");
    std::string tag = ImageTag(image);
    EXPECT_FALSE(tag.empty()) << image << " has no tag";
    EXPECT_NE(tag, "latest") << image;
    auto it = minimum.find(ImageName(image));
    if (it == minimum.end()) continue;
    EXPECT_EQ(image.rfind("registry.k8s.io/sig-storage/", 0), 0u) << image;
    std::vector<int> version = ParseVersion(tag);
    ASSERT_FALSE(version.empty()) << image << " is not pinned to a vX.Y.Z release";
    EXPECT_GE(version, it->second) << image << " is older than the CSI v1.12 releases";
  }
  // dittod's image is this build's version.
  EXPECT_EQ(ImageTag(dittod_["image"].as<std::string>("")), DITTO_VERSION);
}

// scripts/kubernetes builds each sidecar at the version pinned in one file and
// tests the manifests with it: the manifests name those same versions.
TEST_F(ManifestsTest, SidecarTagsAreTheVersionsScriptsKubernetesBuilds) {
  std::map<std::string, std::string> pins;
  std::istringstream lines(ReadFile(SourceDir() + "/scripts/kubernetes.d/versions.env"));
  for (std::string line; std::getline(lines, line);) {
    size_t eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    pins[line.substr(0, eq)] = line.substr(eq + 1);
  }
  ASSERT_FALSE(pins.empty()) << "no pins in scripts/kubernetes.d/versions.env";
  const std::map<std::string, std::string> pin_of = {
      {"csi-provisioner", "EXTERNAL_PROVISIONER_VERSION"},
      {"csi-snapshotter", "EXTERNAL_SNAPSHOTTER_VERSION"},
      {"csi-resizer", "EXTERNAL_RESIZER_VERSION"}};
  for (const auto& [image, pin] : pin_of) {
    YAML::Node c = Sidecar(image);
    ASSERT_TRUE(c) << "no " << image << " container";
    ASSERT_TRUE(pins.count(pin)) << "versions.env has no " << pin;
    EXPECT_EQ(ImageTag(c["image"].as<std::string>("")), pins[pin])
        << image << " is not the version scripts/kubernetes builds (" << pin << ")";
  }
  auto patch = Find(LoadManifests(kDir + "/components/snapshot-metadata"), "DaemonSet");
  ASSERT_TRUE(patch);
  YAML::Node sidecar =
      Container(patch->object["spec"]["template"]["spec"], "csi-snapshot-metadata");
  ASSERT_TRUE(sidecar);
  EXPECT_EQ(ImageTag(sidecar["image"].as<std::string>("")),
            pins["EXTERNAL_SNAPSHOT_METADATA_VERSION"]);
}

TEST_F(ManifestsTest, PortsAreDistinctAndProbesPointAtThem) {
  std::map<std::string, int> named;  // container port name -> number
  std::multiset<int> numbers;
  for (const YAML::Node& c : pod_["containers"]) {
    for (const YAML::Node& p : c["ports"]) {
      named[p["name"].as<std::string>("")] = p["containerPort"].as<int>();
    }
  }
  auto port_of = [](const std::string& address) {
    return std::stoi(address.substr(address.rfind(':') + 1));
  };
  std::optional<std::string> metrics = Arg(dittod_, "--metrics-address");
  ASSERT_TRUE(metrics) << "dittod should serve metrics (--metrics-address)";
  numbers.insert(port_of(*metrics));
  YAML::Node probe = Sidecar("livenessprobe");
  numbers.insert(std::stoi(Arg(probe, "--health-port").value_or("9808")));
  if (auto a = Arg(Sidecar("csi-node-driver-registrar"), "--http-endpoint")) {
    numbers.insert(port_of(*a));
  }
  for (int n : numbers) EXPECT_EQ(numbers.count(n), 1u) << "port " << n << " is used twice";

  EXPECT_EQ(named["metrics"], port_of(*metrics));
  EXPECT_EQ(named["healthz"], std::stoi(Arg(probe, "--health-port").value_or("9808")));
  EXPECT_EQ(daemonset_["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
                .as<std::string>(""),
            std::to_string(port_of(*metrics)));
  for (const YAML::Node& c : pod_["containers"]) {
    for (const char* kind : {"livenessProbe", "readinessProbe"}) {
      if (!c[kind] || !c[kind]["httpGet"]) continue;
      YAML::Node port = c[kind]["httpGet"]["port"];
      EXPECT_TRUE(named.count(port.as<std::string>()))
          << c["name"].as<std::string>() << " " << kind << " names no declared port";
    }
  }
}

// The flags dittod's --help lists.
std::set<std::string> DittodFlags() {
#ifdef DITTOD_PATH
  host::LinuxHost host;
  auto result = host.Run({DITTOD_PATH, "--help"});
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
  std::set<std::string> flags;
  const std::regex flag(R"(--[a-z][a-z0-9-]*)");
  const std::string& text = result->stdout_text;
  for (std::sregex_iterator it(text.begin(), text.end(), flag), end; it != end; ++it) {
    flags.insert(it->str());
  }
  return flags;
#else
  return {};
#endif
}

TEST_F(ManifestsTest, EveryDittodFlagExists) {
#ifndef DITTOD_PATH
  GTEST_SKIP() << "dittod is not part of this build";
#endif
  std::set<std::string> known = DittodFlags();
  ASSERT_THAT(known, Contains("--endpoint")) << "could not read dittod --help";
  for (const std::string& arg : Args(dittod_)) {
    if (arg.rfind("--", 0) != 0) continue;
    std::string flag = arg.substr(0, arg.find('='));
    EXPECT_THAT(known, Contains(flag)) << "dittod has no flag " << flag << " (see dittod --help)";
  }
}

TEST_F(ManifestsTest, ExamplesUseTheClassesAndTheirOwnSources) {
  std::vector<Manifest> examples = LoadManifests(kExamplesDir);
  ASSERT_FALSE(examples.empty());
  const std::string storage_class = Find(manifests_, "StorageClass")->name();
  const std::string snapshot_class = Find(manifests_, "VolumeSnapshotClass")->name();
  std::map<std::string, Manifest> claims;  // "ns/name"
  for (const Manifest& m : FindAll(examples, "PersistentVolumeClaim")) {
    claims.emplace(m.ns() + "/" + m.name(), m);
  }
  std::set<std::string> snapshots;
  for (const Manifest& m : FindAll(examples, "VolumeSnapshot")) {
    EXPECT_EQ(m.object["spec"]["volumeSnapshotClassName"].as<std::string>(""), snapshot_class);
    std::string source =
        m.object["spec"]["source"]["persistentVolumeClaimName"].as<std::string>("");
    EXPECT_TRUE(claims.count(m.ns() + "/" + source)) << m.name() << " snapshots unknown " << source;
    snapshots.insert(m.ns() + "/" + m.name());
  }
  int clones = 0;
  for (const auto& [key, claim] : claims) {
    EXPECT_EQ(claim.object["spec"]["storageClassName"].as<std::string>(""), storage_class) << key;
    YAML::Node source = claim.object["spec"]["dataSource"];
    if (!source) continue;
    std::string kind = source["kind"].as<std::string>();
    std::string name = claim.ns() + "/" + source["name"].as<std::string>();
    if (kind == "PersistentVolumeClaim") {
      ++clones;
      ASSERT_TRUE(claims.count(name)) << key << " clones unknown " << name;
      // external-provisioner clones only within one StorageClass.
      EXPECT_EQ(claims.at(name).object["spec"]["storageClassName"].as<std::string>(""),
                claim.object["spec"]["storageClassName"].as<std::string>(""));
    } else {
      EXPECT_EQ(kind, "VolumeSnapshot");
      EXPECT_TRUE(snapshots.count(name)) << key << " restores unknown " << name;
    }
  }
  EXPECT_GT(clones, 0) << "the examples should show a clone";
  // Pods use claims that exist.
  for (const Manifest& pod : FindAll(examples, "Pod")) {
    for (const YAML::Node& v : pod.object["spec"]["volumes"]) {
      if (!v["persistentVolumeClaim"]) continue;
      std::string name = pod.ns() + "/" + v["persistentVolumeClaim"]["claimName"].as<std::string>();
      EXPECT_TRUE(claims.count(name)) << pod.name() << " uses unknown claim " << name;
    }
  }
}

// The package names of a shell-continued apt-get install list in `text`,
// between `from` and the next "&&".
std::set<std::string> PackagesAfter(const std::string& text, const std::string& from) {
  size_t start = text.find(from);
  if (start == std::string::npos) return {};
  size_t end = text.find("&&", start + from.size());
  std::string list = text.substr(start + from.size(), end - start - from.size());
  std::set<std::string> packages;
  std::istringstream words(list);
  for (std::string w; words >> w;) {
    if (w != "\\" && w[0] != '-') packages.insert(w);
  }
  return packages;
}

TEST(DockerfileTest, BuildsWithSetupsPackagesAndShipsTheTools) {
  std::string dockerfile = ReadFile(SourceDir() + "/Dockerfile");
  std::string setup = ReadFile(SourceDir() + "/scripts/setup");
  ASSERT_FALSE(dockerfile.empty());
  size_t runtime_stage = dockerfile.find("FROM debian:12-slim");
  ASSERT_NE(runtime_stage, std::string::npos) << "the runtime stage is debian:12-slim";
  std::set<std::string> build =
      PackagesAfter(dockerfile.substr(0, runtime_stage), "--no-install-recommends");
  std::set<std::string> runtime =
      PackagesAfter(dockerfile.substr(runtime_stage), "--no-install-recommends");

  // The build stage installs only packages of scripts/setup, and all of its
  // libraries and build tools.
  size_t open = setup.find("packages=(");
  size_t close = setup.find(')', open);
  ASSERT_NE(open, std::string::npos);
  std::set<std::string> setup_packages;
  std::istringstream words(setup.substr(open + 10, close - open - 10));
  for (std::string w; words >> w;) setup_packages.insert(w);
  const std::set<std::string> build_tools = {"build-essential",   "cmake",
                                             "ninja-build",       "pkg-config",
                                             "protobuf-compiler", "protobuf-compiler-grpc"};
  for (const std::string& p : build) {
    EXPECT_TRUE(setup_packages.count(p))
        << "the Dockerfile installs " << p << ", which scripts/setup does not";
  }
  for (const std::string& p : setup_packages) {
    bool needed = build_tools.count(p) || (p.size() > 4 && p.substr(p.size() - 4) == "-dev");
    if (needed) {
      EXPECT_TRUE(build.count(p)) << "scripts/setup installs " << p
                                  << " to build; the Dockerfile's build stage must too";
    }
  }
  // btrfs-progs: the default pool backend (mkfs.btrfs, btrfs subvolume).
  for (const char* tool : {"btrfs-progs", "xfsprogs", "e2fsprogs", "util-linux", "mount"}) {
    EXPECT_THAT(runtime, Contains(tool)) << "dittod runs tools from " << tool;
  }
}

}  // namespace
}  // namespace ditto::deploy
