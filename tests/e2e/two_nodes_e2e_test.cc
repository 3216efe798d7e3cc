// dittoctl driving two nodes: two dittod on this machine (node-a and
// node-b, each with its own pool, peers of each other over mutual TLS on
// 127.0.0.1 with certificates made here by the openssl CLI), one control
// plane (dittoctl --endpoint A --endpoint B). The seed's claims, unchanged
// but for where the clone must be: pvc-1 on node-a, its clone on node-b
// (the selected node the scheduler writes on a claim, a
// WaitForFirstConsumer claim whose first consumer runs on node-b, a class
// whose allowedTopologies name node-b). Each clone binds with node-b's
// topology and holds exactly pvc-1's files.
#include <netinet/in.h>
#include <sys/socket.h>

#include "e2e/dittoctl_fixture.h"
#include "support/sha256.h"

namespace ditto::e2e {
namespace {

constexpr char kOpenssl[] = "/usr/bin/openssl";

// A TCP port of 127.0.0.1 free now (the kernel's choice).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

// A claim NAME of class CLASS in myns whose data source is pvc-1, as a YAML
// document to follow another.
std::string CloneOfPvc1(const std::string& name, const std::string& storage_class) {
  return fmt::format(R"(---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {}
  namespace: myns
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: {}
  resources:
    requests:
      storage: 5Gi
  dataSource:
    kind: PersistentVolumeClaim
    name: pvc-1
)",
                     name, storage_class);
}

class TwoNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    MakeCertificates();
    int port_a = FreePort(), port_b = FreePort();
    ASSERT_GT(port_a, 0);
    ASSERT_GT(port_b, 0);
    ASSERT_NE(port_a, port_b);
    for (auto [node, name, port, other, other_port] :
         {std::tuple{&a_, "node-a", port_a, "node-b", port_b},
          std::tuple{&b_, "node-b", port_b, "node-a", port_a}}) {
      std::string dir = dir_.Join(name);
      ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
      ASSERT_TRUE(node->Start(
          dir, name, {"--peer-listen", fmt::format("127.0.0.1:{}", port), "--peer",
                      fmt::format("{}=127.0.0.1:{}", other, other_port), "--peer-tls-dir",
                      dir_.Join("tls"), "--log-level", "info"}))
          << node->log();
    }
    state_ = dir_.Join("state");
  }
  void TearDown() override {
    for (const std::string& mount : mounts_) Ctl({"unmount", mount});
    a_.Stop();
    b_.Stop();
  }

  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), kOpenssl);
    auto result = host_.Run(args);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->exit_code, 0) << result->stderr_text;
  }
  // DIR/tls: ca.crt and NODE.crt/NODE.key for both nodes (one Secret's files).
  void MakeCertificates() {
    std::string tls = dir_.Join("tls");
    ASSERT_EQ(mkdir(tls.c_str(), 0700), 0);
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", dir_.Join("ca.key"), "-out", tls + "/ca.crt", "-days", "2",
             "-subj", "/CN=ditto-peer-ca"});
    for (const std::string node : {"node-a", "node-b"}) {
      Openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-keyout", tls + "/" + node + ".key", "-out", dir_.Join(node + ".csr"),
               "-subj", "/CN=" + node, "-addext", "subjectAltName=DNS:" + node});
      Openssl({"x509", "-req", "-in", dir_.Join(node + ".csr"), "-CA", tls + "/ca.crt", "-CAkey",
               dir_.Join("ca.key"), "-CAcreateserial", "-out", tls + "/" + node + ".crt",
               "-days", "2", "-copy_extensions", "copyall"});
    }
  }

  Result Ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {DITTOCTL_PATH, "--state",    state_,        "--endpoint",
                                     a_.endpoint(), "--endpoint", b_.endpoint()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(host_, argv);
  }
  void Ok(std::vector<std::string> args) {
    Result r = Ctl(args);
    ASSERT_EQ(r.code, 0) << fmt::format("{}", fmt::join(args, " ")) << "\n"
                         << r.out << r.err << "\n--- node-a\n"
                         << a_.log() << "\n--- node-b\n"
                         << b_.log();
  }
  std::string Get(const std::string& what, const std::string& path) {
    Result r = Ctl({"get", what, "-n", "myns", "-o", "jsonpath=" + path});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  }
  void Mount(const std::string& claim, const std::string& path,
             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"mount", "pvc/" + claim, path, "-n", "myns"};
    args.insert(args.end(), extra.begin(), extra.end());
    Ok(args);
    mounts_.push_back(path);
  }
  void Unmount(const std::string& path) {
    Ok({"unmount", path});
    mounts_.erase(std::find(mounts_.begin(), mounts_.end(), path));
  }
  // SHA-256 of each file under `dir` that the test wrote.
  std::map<std::string, std::string> Digests(const std::string& dir) {
    std::map<std::string, std::string> digests;
    for (const std::string name : {"a.bin", "b.txt", "sub/c.bin"}) {
      auto digest = test::Sha256File(dir + "/" + name);
      digests[name] = digest.ok() ? *digest : std::string(digest.status().message());
    }
    return digests;
  }

  host::LinuxHost host_;
  test::TempDir dir_{"ditto-two-nodes"};
  Daemon a_, b_;
  std::string state_;
  std::vector<std::string> mounts_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::string data(n, '\0');
  uint32_t x = seed;
  for (char& c : data) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return data;
}

TEST_F(TwoNodesTest, TheSeedsCloneMadeOnTheOtherNodeHoldsTheSourcesData) {
  const std::string examples = std::string(DITTO_SOURCE_DIR) + "/examples";
  Ok({"apply", "-f", examples + "/namespace.yaml", "-f", examples + "/storageclass-cloning.yaml",
      "-f", examples + "/pvc-1.yaml"});
  ASSERT_EQ(Get("pvc/pvc-1", "{.status.phase}"), "Bound");
  const std::string source_pv = Get("pvc/pvc-1", "{.spec.volumeName}");
  EXPECT_EQ(Get("pv/" + source_pv,
                "{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}"),
            "node-a")
      << "a claim no node is chosen for goes to the first --endpoint's node";

  const std::string source_dir = dir_.Join("mnt-pvc-1");
  Mount("pvc-1", source_dir);
  ASSERT_EQ(mkdir((source_dir + "/sub").c_str(), 0755), 0);
  WriteFile(source_dir + "/a.bin", RandomBytes(24u << 20, 1));
  WriteFile(source_dir + "/b.txt", "the source's words\n");
  WriteFile(source_dir + "/sub/c.bin", RandomBytes(3u << 20, 2));
  std::map<std::string, std::string> source = Digests(source_dir);
  Unmount(source_dir);  // flushed: the copy sees every byte

  // The seed's clone, with the node the scheduler would have chosen for it.
  std::string clone = ReadAll(examples + "/clone-of-pvc-1.yaml");
  size_t at = clone.find("    name: clone-of-pvc-1\n");
  ASSERT_NE(at, std::string::npos) << clone;
  clone.insert(at, "    annotations:\n      volume.kubernetes.io/selected-node: node-b\n");
  WriteFile(dir_.Join("clone-on-b.yaml"), clone);
  Ok({"apply", "-f", dir_.Join("clone-on-b.yaml")});
  ASSERT_EQ(Get("pvc/clone-of-pvc-1", "{.status.phase}"), "Bound")
      << Ctl({"describe", "pvc", "clone-of-pvc-1", "-n", "myns"}).out;
  const std::string clone_pv = Get("pvc/clone-of-pvc-1", "{.spec.volumeName}");
  EXPECT_EQ(Get("pv/" + clone_pv,
                "{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}"),
            "node-b");
  EXPECT_NE(b_.log().find("peer: copied"), std::string::npos) << b_.log();

  // Used on its node, it holds the source's files; elsewhere it is refused.
  Result elsewhere = Ctl({"mount", "pvc/clone-of-pvc-1", dir_.Join("mnt-wrong"), "-n", "myns",
                          "--node", "node-a"});
  EXPECT_NE(elsewhere.code, 0);
  EXPECT_NE(elsewhere.err.find("on node node-b"), std::string::npos) << elsewhere.err;
  const std::string clone_dir = dir_.Join("mnt-clone");
  Mount("clone-of-pvc-1", clone_dir);
  EXPECT_EQ(Digests(clone_dir), source);
  Unmount(clone_dir);

  // A WaitForFirstConsumer claim is made on its first consumer's node.
  WriteFile(dir_.Join("wffc.yaml"), R"(apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: cloning-wffc
provisioner: ditto.csi.dev
volumeBindingMode: WaitForFirstConsumer
)" + CloneOfPvc1("clone-2", "cloning-wffc"));
  Ok({"apply", "-f", dir_.Join("wffc.yaml")});
  EXPECT_EQ(Get("pvc/clone-2", "{.status.phase}"), "Pending");
  const std::string second_dir = dir_.Join("mnt-clone-2");
  Mount("clone-2", second_dir, {"--node", "node-b"});
  EXPECT_EQ(Get("pvc/clone-2", "{.metadata.annotations['volume.kubernetes.io/selected-node']}"),
            "node-b");
  const std::string second_pv = Get("pvc/clone-2", "{.spec.volumeName}");
  EXPECT_EQ(Get("pv/" + second_pv,
                "{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}"),
            "node-b");
  EXPECT_EQ(Digests(second_dir), source);
  Unmount(second_dir);

  // A class whose allowedTopologies admit node-b only: an Immediate claim of
  // it is made there.
  WriteFile(dir_.Join("allowed.yaml"), R"(apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: cloning-on-b
provisioner: ditto.csi.dev
allowedTopologies:
- matchLabelExpressions:
  - key: topology.ditto.csi.dev/node
    values: [node-b]
)" + CloneOfPvc1("clone-3", "cloning-on-b"));
  Ok({"apply", "-f", dir_.Join("allowed.yaml")});
  ASSERT_EQ(Get("pvc/clone-3", "{.status.phase}"), "Bound");
  const std::string third_pv = Get("pvc/clone-3", "{.spec.volumeName}");
  EXPECT_EQ(Get("pv/" + third_pv,
                "{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}"),
            "node-b");

  // Deleting the clones deletes their volumes on node-b.
  Ok({"delete", "pvc", "clone-of-pvc-1", "clone-2", "clone-3", "-n", "myns"});
  Result pvs = Ctl({"get", "pv", "-o", "name"});
  EXPECT_EQ(pvs.out.find(clone_pv), std::string::npos) << pvs.out;
  EXPECT_EQ(pvs.out.find(second_pv), std::string::npos) << pvs.out;
  EXPECT_NE(b_.log().find(".DeleteVolume"), std::string::npos) << b_.log();
  EXPECT_EQ(a_.log().find(".DeleteVolume"), std::string::npos)
      << "node-a holds none of the clones:\n" << a_.log();
  Ok({"delete", "pvc", "pvc-1", "-n", "myns"});
}

// The DaemonSet's flags before its Secret exists: --peer-listen with
// --peer-tls-optional and no certificates. dittod serves its own volumes,
// serves nothing to other nodes and says so.
TEST(PeerTlsOptionalTest, WithoutCertificatesDittodServesItsOwnPoolOnly) {
  DITTO_REQUIRE_ROOT();
  test::TempDir dir("ditto-peer-optional");
  ASSERT_EQ(mkdir(dir.Join("tls").c_str(), 0700), 0);
  int port = FreePort();
  ASSERT_GT(port, 0);
  Daemon daemon;
  ASSERT_TRUE(daemon.Start(dir.path(), "node-a",
                           {"--peer-listen", fmt::format("127.0.0.1:{}", port),
                            "--peer-tls-dir", dir.Join("tls"), "--peer-tls-optional",
                            "--peer-discovery", "static", "--log-level", "info"}))
      << daemon.log();
  EXPECT_NE(daemon.log().find("copies between nodes are off"), std::string::npos)
      << daemon.log();
  EXPECT_EQ(daemon.log().find("node-to-node service on"), std::string::npos) << daemon.log();
  // Still serving once started (the socket alone comes before the end of start-up).
  for (int i = 0; i < 100 && daemon.log().find("started in") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(daemon.log().find("started in"), std::string::npos) << daemon.log();
}

}  // namespace
}  // namespace ditto::e2e
