#include "control/controllers/context.h"

#include "common/ids.h"
#include "fmt/format.h"

namespace ditto::control {

std::string ControllerContext::ProvisionerSource(const DriverInfo& info) const {
  return fmt::format("{}_external-provisioner", info.name);
}

std::string ControllerContext::SnapshotterSource(const DriverInfo& info) const {
  return fmt::format("csi-snapshotter {}", info.name);
}

CsiClient& ControllerContext::CsiFor(std::string_view handle) {
  std::string tag = TagOfId(handle);
  if (tag.empty()) return csi;
  for (CsiClient* client : nodes) {
    auto info = client->Info();
    if (info.ok() && NodeTag(info->node_id) == tag) return *client;
  }
  return csi;
}

StatusOr<CsiClient*> ControllerContext::CsiOfNode(const std::string& node_id) {
  std::vector<std::string> known;
  std::vector<CsiClient*> all = nodes;
  if (all.empty()) all.push_back(&csi);
  for (CsiClient* client : all) {
    ASSIGN_OR_RETURN(DriverInfo info, client->Info());
    if (info.node_id == node_id) return client;
    known.push_back(info.node_id);
  }
  return absl::NotFoundError(fmt::format(
      "node \"{}\" is not driven here (nodes: {}); give its dittod with --endpoint",
      node_id, fmt::join(known, ", ")));
}

std::string ControllerContext::StagingPath(const std::string& volume_name) const {
  return fmt::format("{}/staging/{}", state_dir, volume_name);
}

StatusOr<std::optional<Json>> GetObject(Store& store, const std::string& kind,
                                        const std::string& ns, const std::string& name) {
  std::optional<Json> result;
  RETURN_IF_ERROR(store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(result, txn.Get(kind, ns, name));
    return absl::OkStatus();
  }));
  return result;
}

StatusOr<std::vector<Json>> ListObjects(Store& store, const std::string& kind,
                                        const std::string& ns, bool all_namespaces) {
  std::vector<Json> result;
  RETURN_IF_ERROR(store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(result, txn.List(kind, ns, all_namespaces));
    return absl::OkStatus();
  }));
  return result;
}

Status UpdateObject(Store& store, Json& object) {
  return store.Transact([&](StoreTxn& txn) { return txn.Update(object); });
}

void RecordEvent(Store& store, const Json& involved, const std::string& type,
                 const std::string& reason, const std::string& message, const std::string& source) {
  (void)store.Transact(
      [&](StoreTxn& txn) { return txn.RecordEvent(involved, type, reason, message, source); });
}

Status FailWithStatusError(ControllerContext& ctx, const Json& object, const std::string& reason,
                           const std::string& message, const std::string& source) {
  RecordEvent(ctx.store, object, "Warning", reason, message, source);
  Json updated = object;
  Json& status = updated["status"];
  if (GetString(status, {"error", "message"}) == message) return absl::OkStatus();
  status["readyToUse"] = false;
  status["error"] = {{"message", message}, {"time", NowTimestamp()}};
  Status result = UpdateObject(ctx.store, updated);
  return absl::IsAborted(result) ? absl::OkStatus() : result;
}

}  // namespace ditto::control
