// The real Kubernetes API client against an HTTPS server in this process
// (cpp-httplib) with certificates made by the openssl CLI: the bearer token
// read from its file, the server's certificate checked against the CA, a
// NodeList turned into peers, a 403 into an error naming the permission, a
// label set by a merge patch.
#include "kube/kubernetes_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <thread>

#include "common/ids.h"
#include "host/linux_host.h"
#include "peer/kubernetes_peers.h"
#include "support/temp_dir.h"

namespace ditto::kube {
namespace {

using ::testing::HasSubstr;

constexpr char kNodeList[] = R"({"kind":"NodeList","apiVersion":"v1","items":[
  {"metadata":{"name":"node-a"},"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"}]}},
  {"metadata":{"name":"node-b"},"status":{"addresses":[{"type":"Hostname","address":"node-b"},
                                                       {"type":"InternalIP","address":"10.0.0.2"}]}}]})";
constexpr char kForbidden[] = R"({"kind":"Status","apiVersion":"v1","status":"Failure",
  "message":"nodes is forbidden: User \"system:serviceaccount:ditto:ditto-node\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
  "reason":"Forbidden","code":403})";

class KubernetesApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", dir_.Join("ca.key"), "-out", dir_.Join("ca.crt"), "-days", "2",
             "-subj", "/CN=kubernetes-ca"});
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", dir_.Join("other-ca.key"), "-out", dir_.Join("other-ca.crt"),
             "-days", "2", "-subj", "/CN=another-ca"});
    Openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", dir_.Join("server.key"), "-out", dir_.Join("server.csr"),
             "-subj", "/CN=kube-apiserver", "-addext", "subjectAltName=IP:127.0.0.1"});
    Openssl({"x509", "-req", "-in", dir_.Join("server.csr"), "-CA", dir_.Join("ca.crt"), "-CAkey",
             dir_.Join("ca.key"), "-CAcreateserial", "-out", dir_.Join("server.crt"), "-days", "2",
             "-copy_extensions", "copyall"});
    ASSERT_TRUE(host_.WriteFileAtomically(dir_.Join("token"), "token-1\n").ok());

    server_ = std::make_unique<httplib::SSLServer>(dir_.Join("server.crt").c_str(),
                                                   dir_.Join("server.key").c_str());
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/api/v1/nodes", [this](const httplib::Request& request,
                                         httplib::Response& response) {
      std::lock_guard lock(mu_);
      queries_.push_back(request.get_param_value("resourceVersion"));
      std::string auth = request.get_header_value("Authorization");
      if (auth == "Bearer token-1") {
        response.set_content(kNodeList, "application/json");
      } else if (auth == "Bearer token-without-rbac") {
        response.status = 403;
        response.set_content(kForbidden, "application/json");
      } else {
        response.status = 401;
        response.set_content(R"({"kind":"Status","message":"Unauthorized","code":401})",
                             "application/json");
      }
    });
    server_->Patch(R"(/apis/groupsnapshot.storage.k8s.io/v1/volumegroupsnapshotcontents/(.+))",
                   [this](const httplib::Request& request, httplib::Response& response) {
                     std::lock_guard lock(mu_);
                     patches_.push_back(request.matches[1].str() + " " +
                                        request.get_header_value("Content-Type") + " " +
                                        request.get_header_value("Authorization") + " " +
                                        request.body);
                     response.set_content(R"({"kind":"VolumeGroupSnapshotContent"})",
                                          "application/json");
                   });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    auto result = host_.Run(args);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->exit_code, 0) << result->stderr_text;
  }

  ApiServerConfig Config(const std::string& ca = "ca.crt") {
    ApiServerConfig config;
    config.host = "127.0.0.1";
    config.port = port_;
    config.token_file = dir_.Join("token");
    config.ca_file = dir_.Join(ca);
    return config;
  }

  std::unique_ptr<peer::KubernetesPeers> PeersOf(std::unique_ptr<KubernetesApi> api) {
    auto map = peer::PeerMap::Make("node-a", {});
    EXPECT_TRUE(map.ok());
    peer::KubernetesPeersOptions options;
    options.peer_port = 9811;
    options.min_refresh_interval = std::chrono::seconds(0);
    return std::make_unique<peer::KubernetesPeers>(std::move(api), std::move(*map), options);
  }

  host::LinuxHost host_;
  test::TempDir dir_{"ditto-kube-api"};
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::string> queries_;
  std::vector<std::string> patches_;
};

TEST_F(KubernetesApiTest, ListsNodesWithTheTokenOverVerifiedTls) {
  auto api = MakeKubernetesApi(host_, Config());
  ASSERT_TRUE(api.ok()) << api.status();
  EXPECT_EQ((*api)->Server(), "https://127.0.0.1:" + std::to_string(port_));
  auto peers = PeersOf(std::move(*api));
  auto holder = peers->HolderOf(NewVolumeId(NodeTag("node-b")));
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_TRUE(holder->has_value());
  EXPECT_EQ((*holder)->node_id, "node-b");
  EXPECT_EQ((*holder)->Target(), "10.0.0.2:9811");
  std::lock_guard lock(mu_);
  ASSERT_EQ(queries_.size(), 1u);
  EXPECT_EQ(queries_[0], "0") << "listed from the API server's cache";
}

TEST_F(KubernetesApiTest, PatchesAreMergePatchesWithTheToken) {
  auto api = MakeKubernetesApi(host_, Config());
  ASSERT_TRUE(api.ok()) << api.status();
  auto answer = (*api)->Patch(
      "/apis/groupsnapshot.storage.k8s.io/v1/volumegroupsnapshotcontents/groupsnapcontent-1",
      R"({"metadata":{"labels":{"a":"b"}}})");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status, 200);
  std::lock_guard lock(mu_);
  ASSERT_EQ(patches_.size(), 1u);
  EXPECT_EQ(patches_[0],
            R"(groupsnapcontent-1 application/merge-patch+json Bearer token-1 {"metadata":{"labels":{"a":"b"}}})");
}

TEST_F(KubernetesApiTest, TheTokenIsReadAgainAtEachList) {
  auto api = MakeKubernetesApi(host_, Config());
  ASSERT_TRUE(api.ok()) << api.status();
  auto peers = PeersOf(std::move(*api));
  ASSERT_TRUE(peers->Refresh().ok());
  // The kubelet rotated the token: the new one (here without the RBAC) is used.
  ASSERT_TRUE(host_.WriteFileAtomically(dir_.Join("token"), "token-without-rbac").ok());
  auto refused = peers->Refresh();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("get, list and watch on nodes"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("cannot list resource"));
  ASSERT_TRUE(host_.WriteFileAtomically(dir_.Join("token"), "expired").ok());
  EXPECT_EQ(peers->Refresh().status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(KubernetesApiTest, AServerNotSignedByTheClusterCaIsRefused) {
  auto api = MakeKubernetesApi(host_, Config("other-ca.crt"));
  ASSERT_TRUE(api.ok()) << api.status();
  auto answer = (*api)->Get("/api/v1/nodes");
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(answer.status().message()), HasSubstr("certificate"));
  std::lock_guard lock(mu_);
  EXPECT_TRUE(queries_.empty()) << "the token went to a server the CA did not sign";
}

TEST_F(KubernetesApiTest, NoServiceAccountMeansNoPod) {
  ASSERT_TRUE(host_.WriteFileAtomically(dir_.Join("not-pem"), "hello").ok());
  auto config = Config("not-pem");
  EXPECT_EQ(MakeKubernetesApi(host_, config).status().code(),
            absl::StatusCode::kFailedPrecondition);

  unsetenv("KUBERNETES_SERVICE_HOST");
  auto outside = InClusterConfig(host_, dir_.path());
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(outside.status().message()), HasSubstr("--peer NODE=HOST:PORT"));

  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", std::to_string(port_).c_str(), 1);
  auto no_token = InClusterConfig(host_, dir_.Join("serviceaccount"));
  EXPECT_EQ(no_token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(no_token.status().message()), HasSubstr("automountServiceAccountToken"));

  auto in_pod = InClusterConfig(host_, dir_.path());  // holds token and ca.crt
  ASSERT_TRUE(in_pod.ok()) << in_pod.status();
  EXPECT_EQ(in_pod->port, port_);
  auto api = MakeKubernetesApi(host_, *in_pod);
  ASSERT_TRUE(api.ok()) << api.status();
  auto answer = (*api)->Get("/api/v1/nodes");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status, 200);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

}  // namespace
}  // namespace ditto::kube
