#include "fuzz_targets.h"

#include <cstdio>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/quantity.h"
#include "control/api/yaml_io.h"
#include "csi/validation.h"

namespace ditto::fuzz {
namespace {

std::string_view Text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

void FuzzQuantity(const uint8_t* data, size_t size) {
  auto parsed = ParseQuantity(Text(data, size));
  if (!parsed.ok()) {
    Check(!parsed.status().message().empty());
    return;
  }
  Check(*parsed >= 0);
  auto again = ParseQuantity(FormatQuantity(*parsed));
  Check(again.ok() && *again == *parsed);
  (void)HumanBytes(static_cast<uint64_t>(*parsed));
}

void FuzzIds(const uint8_t* data, size_t size) {
  std::string_view text = Text(data, size);
  for (bool valid : {IsValidVolumeId(text), IsValidSnapshotId(text)}) {
    if (valid) {
      Check(text.find('/') == std::string_view::npos && text.find('.') == std::string_view::npos &&
            text.find('\0') == std::string_view::npos && text.size() <= 64);
    }
  }
  Check(ValidateVolumeId(text).ok() == IsValidVolumeId(text));
  Check(ValidateSnapshotId(text).ok() == IsValidSnapshotId(text));
  if (ValidateName(text).ok()) {
    Check(!text.empty() && text.size() <= 128 && text.find('\0') == std::string_view::npos);
  }
}

void FuzzCsiValidation(const uint8_t* data, size_t size) {
  namespace pb = ::csi::v1;
  pb::CreateVolumeRequest request;
  if (request.ParseFromArray(data, static_cast<int>(size))) {
    (void)csi::ParseCapabilities(request.volume_capabilities(), "volume_capabilities");
    (void)csi::ParseVolumeParameters(request.parameters());
    (void)csi::ParseSnapshotParameters(request.parameters());
    (void)csi::TopologyAllows(request.accessibility_requirements(), request.name());
    const pb::CapacityRange* range =
        request.has_capacity_range() ? &request.capacity_range() : nullptr;
    for (std::optional<uint64_t> source :
         {std::optional<uint64_t>(), std::optional<uint64_t>(uint64_t{1} << 30)}) {
      auto capacity = csi::ResolveCapacity(range, source);
      if (capacity.ok()) {
        Check(*capacity % csi::kCapacityAlignment == 0 && *capacity > 0);
        if (range != nullptr && range->limit_bytes() > 0) {
          Check(*capacity <= static_cast<uint64_t>(range->limit_bytes()));
        }
        if (source) Check(*capacity >= *source);
      }
    }
    for (const auto& capability : request.volume_capabilities()) {
      auto parsed = csi::ParseCapability(capability, "volume_capability");
      if (parsed.ok()) {
        Check(csi::ValidateMountFlags(parsed->mount_flags).ok());
        (void)csi::SplitMountFlags(parsed->mount_flags);
      }
    }
    // The name as a node path and as a page token.
    if (csi::ValidateNodePath(request.name(), "path").ok()) {
      const std::string& path = request.name();
      Check(!path.empty() && path[0] == '/' && path.find("/../") == std::string::npos &&
            path.find("//") == std::string::npos && path.find('\0') == std::string::npos &&
            path.rfind("/proc", 0) != 0 && path.rfind("/sys", 0) != 0);
    }
    auto token = csi::DecodePageToken(request.name(),
                                      [](std::string_view id) { return IsValidVolumeId(id); });
    if (token.ok()) Check(IsValidVolumeId(token->id));
  }
  pb::NodeStageVolumeRequest stage;
  if (stage.ParseFromArray(data, static_cast<int>(size)) && stage.has_volume_capability()) {
    (void)csi::ParseCapability(stage.volume_capability(), "volume_capability");
    (void)csi::ValidateNodePath(stage.staging_target_path(), "staging_target_path");
  }
}

void FuzzYaml(const uint8_t* data, size_t size) {
  auto documents = control::ParseYaml(Text(data, size), "fuzz.yaml");
  if (!documents.ok()) {
    Check(!documents.status().message().empty());
    return;
  }
  for (const auto& document : *documents) {
    std::string printed = control::ToYaml(document.object);
    auto again = control::ParseYaml(printed, "printed.yaml");
    // Compared as the JSON the store keeps: a YAML .inf or .nan has no JSON
    // form and is stored (and printed) as null.
    bool same =
        again.ok() && again->size() == 1 && (*again)[0].object.dump() == document.object.dump();
    if (!same) {
      std::fprintf(stderr, "round trip differs\nparsed:  %s\nprinted: %s\nreparsed: %s\n",
                   document.object.dump().c_str(), printed.c_str(),
                   again.ok() ? (again->empty() ? "(nothing)" : (*again)[0].object.dump().c_str())
                              : std::string(again.status().message()).c_str());
    }
    Check(same);
  }
}

}  // namespace ditto::fuzz
