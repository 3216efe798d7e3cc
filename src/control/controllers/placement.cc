#include "control/controllers/placement.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "control/api/kinds.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

// Whether a node with `topology` satisfies one allowedTopologies term (every
// expression's key has one of its values).
bool Admits(const Json& term, const csi::v1::Topology& topology) {
  for (const Json& expression : term.value("matchLabelExpressions", Json::array())) {
    std::string key = expression.value("key", "");
    auto segment = topology.segments().find(key);
    if (segment == topology.segments().end()) return false;
    const Json values = expression.value("values", Json::array());
    if (std::none_of(values.begin(), values.end(), [&](const Json& value) {
          return value.is_string() && value.get<std::string>() == segment->second;
        })) {
      return false;
    }
  }
  return true;
}

std::vector<CsiClient*> AllNodes(ControllerContext& ctx) {
  if (ctx.nodes.empty()) return {&ctx.csi};
  return ctx.nodes;
}

}  // namespace

StatusOr<Placement> PlaceVolume(ControllerContext& ctx, const Json& claim,
                                const Json& storage_class, const std::string& source_id) {
  Placement placement;
  std::string selected = GetAnnotation(claim, kSelectedNodeAnnotation);
  if (!selected.empty()) {
    auto node = ctx.CsiOfNode(selected);
    if (absl::IsNotFound(node.status())) {
      placement.refusal = fmt::format("the claim's selected node: {}",
                                      std::string(node.status().message()));
      return placement;
    }
    RETURN_IF_ERROR(node.status());
    placement.node = *node;
    return placement;
  }
  const Json* allowed = Find(storage_class, {"allowedTopologies"});
  if (allowed != nullptr && allowed->is_array() && !allowed->empty()) {
    for (CsiClient* node : AllNodes(ctx)) {
      ASSIGN_OR_RETURN(DriverInfo info, node->Info());
      if (std::any_of(allowed->begin(), allowed->end(),
                      [&](const Json& term) { return Admits(term, info.accessible_topology); })) {
        placement.node = node;
        return placement;
      }
    }
    placement.refusal = fmt::format(
        "no node driven here is in the allowedTopologies of StorageClass \"{}\"; give the "
        "node's dittod with --endpoint or change the class",
        Name(storage_class));
    return placement;
  }
  placement.node = source_id.empty() ? &ctx.csi : &ctx.CsiFor(source_id);
  return placement;
}

Status CreateVolumeUntilFinal(ControllerContext& ctx, CsiClient& node, const Json& claim,
                              const std::string& event_source,
                              const csi::v1::CreateVolumeRequest& request,
                              csi::v1::CreateVolumeResponse* response,
                              std::chrono::seconds limit) {
  constexpr auto kEventInterval = std::chrono::seconds(10);
  auto start = std::chrono::steady_clock::now();
  auto next_event = start;
  auto wait = std::chrono::milliseconds(100);
  while (true) {
    Status created = node.CreateVolume(request, response);
    if (!absl::IsAborted(created) && !absl::IsUnavailable(created)) return created;
    auto now = std::chrono::steady_clock::now();
    if (now - start >= limit) return created;
    if (now >= next_event) {
      RecordEvent(ctx.store, claim, "Normal", "Provisioning",
                  fmt::format("volume {} is being made: {}", request.name(),
                              std::string(created.message())),
                  event_source);
      next_event = now + kEventInterval;
    }
    std::this_thread::sleep_for(wait);
    wait = std::min<std::chrono::milliseconds>(wait * 2, std::chrono::seconds(2));
  }
}

}  // namespace ditto::control
