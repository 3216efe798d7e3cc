#include "cli/session.h"

#include "common/quantity.h"
#include "csi/in_process_channel.h"
#include "fmt/format.h"
#include "pool/layout.h"

namespace ditto::cli {

StatusOr<std::string> NodeId(host::Host& host, const GlobalFlags& flags) {
  if (!flags.node_id.empty()) return flags.node_id;
  ASSIGN_OR_RETURN(std::string name, host.ReadFile("/proc/sys/kernel/hostname"));
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  if (name.empty()) {
    return absl::FailedPreconditionError("this machine has no hostname; pass --node-id NAME");
  }
  return name;
}

StatusOr<std::string> AbsolutePath(host::Host& host, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("empty path");
  std::string absolute = path;
  if (path[0] != '/') {
    StatusOr<std::string> cwd = host.RealPath(".");
    if (!cwd.ok()) return cwd.status();
    absolute = cwd->size() == 1 ? "/" + path : *cwd + "/" + path;
  }
  // Normalise "//", "/./" and a trailing "/" so records match however typed.
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= absolute.size()) {
    size_t end = absolute.find('/', start);
    if (end == std::string::npos) end = absolute.size();
    std::string part = absolute.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string out;
  for (const std::string& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

bool PoolReady(host::Host& host, const GlobalFlags& flags) {
  auto layout = pool::ReadLayout(host, flags.state_dir + "/pool");
  if (!layout.ok()) return false;
  return host.Stat(layout->data_dir + "/catalog.db").ok();
}

StatusOr<std::unique_ptr<Session>> Session::Open(const GlobalFlags& flags, Access access) {
  std::unique_ptr<Session> session(new Session());
  if (access == Access::kRead) {
    std::string db = flags.state_dir + "/objects.db";
    if (!session->host_.Stat(db).ok()) return session;  // nothing stored yet
    if (flags.endpoints.empty() && !PoolReady(session->host_, flags)) {
      ASSIGN_OR_RETURN(session->store_, control::Store::Open(db));
      return session;
    }
  }
  std::vector<std::unique_ptr<control::CsiClient>> nodes;
  if (!flags.endpoints.empty()) {
    for (const std::string& endpoint : flags.endpoints) {
      ASSIGN_OR_RETURN(auto client, control::CsiClient::Connect(endpoint));
      nodes.push_back(std::move(client));
    }
  } else {
    csi::DriverOptions options;
    options.driver_name = flags.driver_name;
    ASSIGN_OR_RETURN(options.node_id, NodeId(session->host_, flags));
    options.pool_dir = flags.state_dir + "/pool";
    options.init_pool_if_missing = access == Access::kWrite;
    ASSIGN_OR_RETURN(int64_t size, ParseQuantity(flags.pool_size));
    options.pool_init.size_bytes = static_cast<uint64_t>(size);
    ASSIGN_OR_RETURN(options.pool_init.backend, pool::DefaultBackendChoice());
    RETURN_IF_ERROR(session->host_.MakeDirectories(flags.state_dir, 0700));
    ASSIGN_OR_RETURN(session->driver_, csi::Driver::Open(session->host_, options));
    grpc::ServerBuilder builder;
    session->driver_->RegisterServices(builder);
    session->server_ = builder.BuildAndStart();
    if (session->server_ == nullptr) {
      return absl::InternalError("could not start the in-process CSI server");
    }
    nodes.push_back(
        std::make_unique<control::CsiClient>(csi::InProcessChannel(*session->server_)));
  }
  ASSIGN_OR_RETURN(session->plane_,
                   control::ControlPlane::Open(flags.state_dir, std::move(nodes), session->host_));
  return session;
}

Session::~Session() {
  plane_.reset();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
  server_.reset();
  driver_.reset();
}

}  // namespace ditto::cli
