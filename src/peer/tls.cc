#include "peer/tls.h"

#include "fmt/format.h"

namespace ditto::peer {
namespace {

StatusOr<std::string> ReadPem(host::Host& host, const std::string& dir, const std::string& name,
                              std::string_view marker) {
  std::string path = dir + "/" + name;
  auto text = host.ReadFile(path);
  if (!text.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "cannot read {} ({}); --peer-tls-dir must hold ca.crt, and tls.crt and tls.key or "
        "NODE.crt and NODE.key (PEM)",
        path,
        std::string(text.status().message())));
  }
  if (text->find(marker) == std::string::npos) {
    return absl::FailedPreconditionError(fmt::format(
        "{} holds no PEM {} block; put the PEM file there (e.g. from a kubernetes.io/tls "
        "Secret)",
        path, marker));
  }
  return *text;
}

}  // namespace

StatusOr<TlsFiles> LoadTlsFiles(host::Host& host, const std::string& dir,
                                const std::string& node_id) {
  TlsFiles tls;
  ASSIGN_OR_RETURN(tls.ca, ReadPem(host, dir, "ca.crt", "CERTIFICATE"));
  std::string base = "tls";
  if (absl::IsNotFound(host.Stat(dir + "/tls.crt").status()) && !node_id.empty() &&
      node_id.find('/') == std::string::npos && node_id[0] != '.') {
    base = node_id;
  }
  ASSIGN_OR_RETURN(tls.cert, ReadPem(host, dir, base + ".crt", "CERTIFICATE"));
  ASSIGN_OR_RETURN(tls.key, ReadPem(host, dir, base + ".key", "PRIVATE KEY"));
  return tls;
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsFiles& tls) {
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls.ca;
  options.pem_key_cert_pairs.push_back({tls.key, tls.cert});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsFiles& tls) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.ca;
  options.pem_private_key = tls.key;
  options.pem_cert_chain = tls.cert;
  return grpc::SslCredentials(options);
}

grpc::ChannelArguments PeerChannelArguments(const std::string& node_id) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(node_id);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Each copy has its own connection: a broken one is not shared.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

void ConfigurePeerServer(grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
}

std::vector<std::string> ClientNames(const grpc::ServerContext& context) {
  std::vector<std::string> names;
  auto auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return names;
  for (const char* property : {"x509_subject_alternative_name", "x509_common_name"}) {
    for (const auto& value : auth->FindPropertyValues(property)) {
      names.emplace_back(value.data(), value.size());
    }
  }
  return names;
}

}  // namespace ditto::peer
