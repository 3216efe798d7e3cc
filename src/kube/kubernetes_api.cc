#include "kube/kubernetes_api.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <charconv>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "fmt/format.h"

namespace ditto::kube {
namespace {

constexpr time_t kConnectSeconds = 5;
constexpr time_t kReadSeconds = 30;

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

// The certificates of a PEM bundle as a new store, or null when it holds none.
X509_STORE* StoreOf(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return nullptr;
  X509_STORE* store = X509_STORE_new();
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  BIO_free(bio);
  if (added == 0) {
    X509_STORE_free(store);
    return nullptr;
  }
  return store;
}

class HttplibKubernetesApi final : public KubernetesApi {
 public:
  HttplibKubernetesApi(host::Host& host, ApiServerConfig config, std::string ca_pem)
      : host_(host), config_(std::move(config)), ca_pem_(std::move(ca_pem)) {}

  StatusOr<ApiResponse> Get(const std::string& path) override {
    return Send("GET", path, [&](httplib::ClientImpl& client, const httplib::Headers& headers) {
      return client.Get(path, headers);
    });
  }

  StatusOr<ApiResponse> Patch(const std::string& path, const std::string& merge_patch) override {
    return Send("PATCH", path, [&](httplib::ClientImpl& client, const httplib::Headers& headers) {
      return client.Patch(path, headers, merge_patch, "application/merge-patch+json");
    });
  }

  std::string Server() const override {
    std::string host =
        config_.host.find(':') != std::string::npos ? "[" + config_.host + "]" : config_.host;
    return fmt::format("{}://{}:{}", config_.tls ? "https" : "http", host, config_.port);
  }

 private:
  template <typename Call>
  StatusOr<ApiResponse> Send(const char* method, const std::string& path, Call call) {
    auto token = host_.ReadFile(config_.token_file);
    if (!token.ok()) {
      return absl::FailedPreconditionError(fmt::format(
          "cannot read the service account token {}: {}; run dittod in a pod whose service "
          "account token is mounted (automountServiceAccountToken)",
          config_.token_file, std::string(token.status().message())));
    }
    std::unique_ptr<httplib::ClientImpl> client;
    if (config_.tls) {
      auto ssl = std::make_unique<httplib::SSLClient>(config_.host, config_.port);
      // The store is owned by the client's SSL context from here on.
      ssl->set_ca_cert_store(StoreOf(ca_pem_));
      ssl->enable_server_certificate_verification(true);
      client = std::move(ssl);
    } else {
      client = std::make_unique<httplib::ClientImpl>(config_.host, config_.port);
    }
    client->set_connection_timeout(kConnectSeconds);
    client->set_read_timeout(kReadSeconds);
    client->set_bearer_token_auth(Trimmed(*token));
    httplib::Headers headers = {{"Accept", "application/json"}};
    httplib::Result result = call(*client, headers);
    if (!result) {
      std::string detail = httplib::to_string(result.error());
      if (config_.tls) {
        long verify = static_cast<httplib::SSLClient*>(client.get())->get_openssl_verify_result();
        if (verify != X509_V_OK) {
          detail += fmt::format(" (certificate: {})", X509_verify_cert_error_string(verify));
        }
      }
      return absl::UnavailableError(fmt::format(
          "no answer from the Kubernetes API server {} to {} {}: {}; check that the pod "
          "reaches it and that its certificate is signed by {}",
          Server(), method, path, detail,
          config_.ca_file.empty() ? "the cluster CA" : config_.ca_file));
    }
    return ApiResponse{result->status, result->body};
  }

  host::Host& host_;
  const ApiServerConfig config_;
  const std::string ca_pem_;
};

}  // namespace

std::string ApiMessage(const std::string& body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object() && json.contains("message") && json["message"].is_string()) {
    return json["message"].get<std::string>();
  }
  return body.substr(0, 200);
}

StatusOr<ApiServerConfig> InClusterConfig(host::Host& host,
                                          const std::string& service_account_dir) {
  const char* server_host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* server_port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (server_host == nullptr || *server_host == '\0' || server_port == nullptr ||
      *server_port == '\0') {
    return absl::FailedPreconditionError(
        "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: dittod reads the "
        "Kubernetes API (--peer-discovery=kubernetes, --label-snapshot-contents) only when it "
        "runs in a pod; elsewhere give peers as --peer NODE=HOST:PORT");
  }
  ApiServerConfig config;
  config.host = server_host;
  std::string_view port_text = server_port;
  auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), config.port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || config.port < 1 ||
      config.port > 65535) {
    return absl::FailedPreconditionError(fmt::format(
        "KUBERNETES_SERVICE_PORT \"{}\" is not a port number", port_text.substr(0, 40)));
  }
  config.token_file = service_account_dir + "/token";
  config.ca_file = service_account_dir + "/ca.crt";
  for (const std::string& file : {config.token_file, config.ca_file}) {
    if (absl::IsNotFound(host.Stat(file).status())) {
      return absl::FailedPreconditionError(fmt::format(
          "{} is missing: the pod has no service account token mounted; set "
          "automountServiceAccountToken: true for dittod's pod or service account",
          file));
    }
  }
  return config;
}

StatusOr<std::unique_ptr<KubernetesApi>> MakeKubernetesApi(host::Host& host,
                                                           ApiServerConfig config) {
  std::string ca_pem;
  if (config.tls) {
    auto read = host.ReadFile(config.ca_file);
    if (!read.ok()) {
      return absl::FailedPreconditionError(fmt::format(
          "cannot read the cluster CA {}: {}", config.ca_file, std::string(read.status().message())));
    }
    X509_STORE* store = StoreOf(*read);
    if (store == nullptr) {
      return absl::FailedPreconditionError(fmt::format(
          "{} holds no PEM certificate; it should be the cluster CA the kubelet mounts",
          config.ca_file));
    }
    X509_STORE_free(store);
    ca_pem = std::move(*read);
  }
  return std::unique_ptr<KubernetesApi>(
      new HttplibKubernetesApi(host, std::move(config), std::move(ca_pem)));
}

}  // namespace ditto::kube
