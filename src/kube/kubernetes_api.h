// The Kubernetes API from a pod: the API server's address from
// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, the pod's service
// account token and the cluster's CA from
// /var/run/secrets/kubernetes.io/serviceaccount. dittod reads objects (GET)
// and sets labels (a JSON merge patch); it creates and deletes nothing. The
// HTTP access is behind KubernetesApi so that what is done with the answers
// is tested without a network.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "host/host.h"

namespace ditto::kube {

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// One HTTP answer, whatever its status.
struct ApiResponse {
  int status = 0;
  std::string body;
};

class KubernetesApi {
 public:
  virtual ~KubernetesApi() = default;
  // GET `path` ("/api/v1/nodes?resourceVersion=0"). Unavailable when no
  // answer came (connection refused, timeout, TLS refused); FailedPrecondition
  // when the token cannot be read.
  virtual StatusOr<ApiResponse> Get(const std::string& path) = 0;
  // PATCH `path` with `merge_patch` (application/merge-patch+json); the
  // errors of Get.
  virtual StatusOr<ApiResponse> Patch(const std::string& path, const std::string& merge_patch) = 0;
  // "https://HOST:PORT", for messages.
  virtual std::string Server() const = 0;
};

struct ApiServerConfig {
  std::string host;  // a name or an address (IPv6 without brackets)
  int port = 443;
  bool tls = true;         // false: plain HTTP (a local test server only)
  std::string token_file;  // read at each request: the kubelet rotates it
  std::string ca_file;     // PEM; the server's certificate must chain to it
};

// The message of the Status object the API server answers an error with,
// else the start of `body`.
std::string ApiMessage(const std::string& body);

// The configuration a pod finds (the variables above, and the token and CA
// under `service_account_dir`). FailedPrecondition saying what is missing
// when dittod does not run in a pod.
StatusOr<ApiServerConfig> InClusterConfig(host::Host& host,
                                          const std::string& service_account_dir =
                                              kServiceAccountDir);

// The real client (cpp-httplib over OpenSSL); files are read through `host`,
// which must outlive it. FailedPrecondition when the CA is not PEM.
StatusOr<std::unique_ptr<KubernetesApi>> MakeKubernetesApi(host::Host& host,
                                                           ApiServerConfig config);

}  // namespace ditto::kube
