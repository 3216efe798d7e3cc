#include "csi/driver.h"

#include <algorithm>
#include <cctype>

#include "common/ids.h"
#include "csi/controller_service.h"
#include "csi/group_controller_service.h"
#include "csi/identity_service.h"
#include "csi/in_process_channel.h"
#include "csi/node/node_service.h"
#include "csi/rpc_observer.h"
#include "csi/snapshot_metadata_service.h"
#include "csi/undecodable_request.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ditto::csi {
namespace {

class DriverImpl final : public Driver {
 public:
  DriverImpl(host::Host& host, DriverOptions options, std::unique_ptr<pool::Pool> pool)
      : host_(host),
        options_(std::move(options)),
        pool_(std::move(pool)),
        transfers_(options_.peers ? std::make_unique<peer::Transfers>(*pool_, *options_.peers)
                                  : nullptr),
        context_{host_, *pool_, options_, observers_, locks_, transfers_.get()},
        identity_(context_, [this] { return Ready(); }),
        controller_(context_),
        group_controller_(context_),
        snapshot_metadata_(context_),
        node_(context_) {
    if (options_.log_rpcs) observers_.Add(std::make_shared<LoggingRpcObserver>());
    if (options_.observer) observers_.Add(options_.observer);
  }

  Status Start() {
    if (options_.mode != DriverMode::kController) RETURN_IF_ERROR(node_.Reconcile());
    return absl::OkStatus();
  }

  void RegisterServices(grpc::ServerBuilder& builder) override {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    AddCallOrderingInterceptor(creators);
    creators.push_back(MakeUndecodableRequestInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(creators));
    builder.RegisterService(&identity_);
    if (options_.mode != DriverMode::kNode) {
      builder.RegisterService(&controller_);
      builder.RegisterService(&group_controller_);
      builder.RegisterService(&snapshot_metadata_);
    }
    if (options_.mode != DriverMode::kController) builder.RegisterService(&node_);
  }

  bool Ready() override {
    auto setting = pool_->catalog().GetSetting("overcommit_ratio");
    if (!setting.ok()) {
      spdlog::error("not ready: the catalog cannot be read: {}",
                    std::string(setting.status().message()));
      return false;
    }
    auto data = host_.Stat(pool_->layout().data_dir);
    if (!data.ok() || !data->is_directory) {
      spdlog::error("not ready: the pool directory {} is not usable: {}", pool_->layout().data_dir,
                    data.ok() ? "not a directory" : std::string(data.status().message()));
      return false;
    }
    return true;
  }

  pool::Pool& pool() override { return *pool_; }
  const DriverOptions& options() const override { return options_; }
  peer::Transfers* transfers() override { return transfers_.get(); }
  void AddObserver(std::shared_ptr<RpcObserver> observer) override {
    observers_.Add(std::move(observer));
  }

 private:
  host::Host& host_;
  DriverOptions options_;
  std::unique_ptr<pool::Pool> pool_;
  RpcObservers observers_;
  pool::OperationLocks locks_;
  std::unique_ptr<peer::Transfers> transfers_;
  DriverContext context_;
  IdentityService identity_;
  ControllerService controller_;
  GroupControllerService group_controller_;
  SnapshotMetadataService snapshot_metadata_;
  NodeService node_;
};

// The CSI spec's rule for GetPluginInfo.name: at most 63 characters of
// domain-name notation, alphanumeric at both ends.
Status ValidateDriverName(const std::string& name) {
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  bool ok = !name.empty() && name.size() <= 63 && alnum(name.front()) && alnum(name.back()) &&
            std::all_of(name.begin(), name.end(),
                        [&](char c) { return alnum(c) || c == '-' || c == '.'; });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format(
      "driver name \"{}\" is not valid: use at most 63 letters, digits, '-' and '.', starting "
      "and ending with a letter or digit (e.g. ditto.csi.dev)",
      name.substr(0, 80)));
}

}  // namespace

StatusOr<std::unique_ptr<Driver>> Driver::Open(host::Host& host, const DriverOptions& options) {
  if (options.node_id.empty()) {
    return absl::InvalidArgumentError("a node ID is required (the name of this node)");
  }
  if (options.node_id.size() > 128) {
    return absl::InvalidArgumentError("the node ID is longer than 128 bytes");
  }
  if (options.pool_dir.empty()) return absl::InvalidArgumentError("a pool directory is required");
  RETURN_IF_ERROR(ValidateDriverName(options.driver_name));
  std::unique_ptr<pool::Pool> pool;
  if (options.init_pool_if_missing) {
    ASSIGN_OR_RETURN(pool, pool::Pool::OpenOrInit(host, options.pool_dir, options.pool_init));
  } else {
    auto opened = pool::Pool::Open(host, options.pool_dir);
    if (!opened.ok()) {
      return Status(opened.status().code(),
                    fmt::format("cannot open the pool at {}: {}", options.pool_dir,
                                std::string(opened.status().message())));
    }
    pool = std::move(opened).value();
  }
  // New IDs say which node made them (common/ids.h).
  pool->set_id_tag(NodeTag(options.node_id));
  auto driver = std::make_unique<DriverImpl>(host, options, std::move(pool));
  RETURN_IF_ERROR(driver->Start());
  return std::unique_ptr<Driver>(std::move(driver));
}

}  // namespace ditto::csi
