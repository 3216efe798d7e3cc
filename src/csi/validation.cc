#include "csi/validation.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "csi/driver.h"
#include "fmt/format.h"

namespace ditto::csi {
namespace {

using Mode = pb::VolumeCapability::AccessMode;

// Flags mount(8) turns into MS_* bits, plus filesystem words without values.
const std::set<std::string, std::less<>>& AllowedFlagWords() {
  static const std::set<std::string, std::less<>> kWords = {
      "ro",        "rw",      "noatime", "nodiratime", "relatime", "strictatime", "lazytime",
      "nodev",     "nosuid",  "noexec",  "sync",       "dirsync",  "discard",     "nodiscard",
      "nobarrier", "barrier", "inode64", "noquota",    "defaults",
  };
  return kWords;
}

bool IsDigits(std::string_view text) {
  return !text.empty() && text.size() <= 10 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// key=value flags: the key decides which values are allowed.
bool AllowedKeyValue(std::string_view key, std::string_view value) {
  if (key == "commit" || key == "logbufs") return IsDigits(value);
  // Not errors=panic: one volume's filesystem error must not take the node down.
  if (key == "errors") return value == "remount-ro" || value == "continue";
  if (key == "data") return value == "ordered" || value == "writeback" || value == "journal";
  if (key == "logbsize" || key == "allocsize") {
    // Sizes like 256k or 64m.
    std::string_view digits = value;
    if (!digits.empty() && (digits.back() == 'k' || digits.back() == 'm' || digits.back() == 'g')) {
      digits.remove_suffix(1);
    }
    return IsDigits(digits);
  }
  return false;
}

std::string KnownFlagList() {
  std::string out;
  for (const auto& word : AllowedFlagWords()) out += (out.empty() ? "" : ", ") + word;
  return out +
         ", commit=N, errors=remount-ro|continue, data=ordered|writeback|journal, "
         "logbufs=N, logbsize=SIZE, allocsize=SIZE";
}

bool HasPrefix(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool IsUnder(std::string_view path, std::string_view dir) {
  return path == dir ||
         (HasPrefix(path, dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

}  // namespace

StatusOr<Capability> ParseCapability(const pb::VolumeCapability& capability,
                                     std::string_view field) {
  Capability out;
  switch (capability.access_type_case()) {
    case pb::VolumeCapability::kBlock:
      out.block = true;
      break;
    case pb::VolumeCapability::kMount: {
      const auto& mount = capability.mount();
      if (!mount.fs_type().empty()) {
        RETURN_IF_ERROR(ValidateFsType(mount.fs_type(), fmt::format("{}.mount.fs_type", field)));
        out.fs_type = mount.fs_type();
      }
      out.mount_flags.assign(mount.mount_flags().begin(), mount.mount_flags().end());
      Status flags = ValidateMountFlags(out.mount_flags);
      if (!flags.ok()) {
        return absl::InvalidArgumentError(
            fmt::format("{}.mount.mount_flags: {}", field, std::string(flags.message())));
      }
      if (!mount.volume_mount_group().empty()) {
        return absl::InvalidArgumentError(fmt::format(
            "{}.mount.volume_mount_group is not supported (the driver does not offer the "
            "VOLUME_MOUNT_GROUP capability); leave it empty",
            field));
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(
          fmt::format("{}: access_type is required (block or mount)", field));
  }
  if (!capability.has_access_mode() || capability.access_mode().mode() == Mode::UNKNOWN) {
    return absl::InvalidArgumentError(fmt::format("{}: access_mode is required", field));
  }
  out.mode = capability.access_mode().mode();
  if (!pb::VolumeCapability::AccessMode::Mode_IsValid(out.mode)) {
    return absl::InvalidArgumentError(fmt::format("{}: access_mode {} is not a CSI access mode",
                                                  field, static_cast<int>(out.mode)));
  }
  return out;
}

StatusOr<std::vector<Capability>> ParseCapabilities(
    const google::protobuf::RepeatedPtrField<pb::VolumeCapability>& capabilities,
    std::string_view field) {
  if (capabilities.empty()) {
    return absl::InvalidArgumentError(fmt::format("{} is required (at least one)", field));
  }
  std::vector<Capability> out;
  for (int i = 0; i < capabilities.size(); ++i) {
    ASSIGN_OR_RETURN(Capability parsed,
                     ParseCapability(capabilities[i], fmt::format("{}[{}]", field, i)));
    out.push_back(std::move(parsed));
  }
  return out;
}

bool IsSupportedAccessMode(AccessMode mode) {
  return mode == Mode::SINGLE_NODE_WRITER || mode == Mode::SINGLE_NODE_READER_ONLY ||
         mode == Mode::SINGLE_NODE_SINGLE_WRITER || mode == Mode::SINGLE_NODE_MULTI_WRITER;
}

bool AllowsSeveralPublishTargets(AccessMode mode) {
  return mode == Mode::SINGLE_NODE_MULTI_WRITER || mode == Mode::MULTI_NODE_READER_ONLY ||
         mode == Mode::MULTI_NODE_SINGLE_WRITER || mode == Mode::MULTI_NODE_MULTI_WRITER;
}

bool IsReadOnlyMode(AccessMode mode) {
  return mode == Mode::SINGLE_NODE_READER_ONLY || mode == Mode::MULTI_NODE_READER_ONLY;
}

std::string AccessModeName(AccessMode mode) {
  return pb::VolumeCapability::AccessMode::Mode_Name(mode);
}

Status ValidateFsType(std::string_view fs_type, std::string_view field) {
  if (fs_type == "ext4" || fs_type == "xfs") return absl::OkStatus();
  std::string shown(fs_type.substr(0, 32));
  for (char& c : shown) {
    if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
  }
  return absl::InvalidArgumentError(
      fmt::format("{} \"{}\" is not supported; use ext4 or xfs", field, shown));
}

Status ValidateMountFlags(const std::vector<std::string>& flags) {
  size_t total = 0;
  for (size_t i = 0; i < flags.size(); ++i) {
    const std::string& flag = flags[i];
    total += flag.size();
    if (flag.empty()) return absl::InvalidArgumentError(fmt::format("flag {} is empty", i));
    bool plain = std::all_of(flag.begin(), flag.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '=' || c == '-' || c == '_';
    });
    if (plain) {
      size_t equals = flag.find('=');
      if (equals == std::string::npos) {
        if (AllowedFlagWords().count(flag) > 0) continue;
        return absl::InvalidArgumentError(
            fmt::format("flag {} (\"{}\") is not supported; supported: {}", i, flag.substr(0, 32),
                        KnownFlagList()));
      }
      std::string_view key = std::string_view(flag).substr(0, equals);
      if (AllowedKeyValue(key, std::string_view(flag).substr(equals + 1))) continue;
      // The value is not echoed: mount flags may carry secrets.
      return absl::InvalidArgumentError(fmt::format(
          "flag {} (key \"{}\") has a key or value that is not supported; supported: {}", i,
          key.substr(0, 32), KnownFlagList()));
    }
    return absl::InvalidArgumentError(fmt::format(
        "flag {} contains a character other than letters, digits, '-', '_' and '=' (one flag "
        "per entry; no commas, spaces or quotes)",
        i));
  }
  if (total > 4096) {
    return absl::InvalidArgumentError("mount flags exceed 4 KiB in total");
  }
  return absl::OkStatus();
}

MountFlags SplitMountFlags(const std::vector<std::string>& flags) {
  static const std::set<std::string, std::less<>> kVfs = {
      "noatime", "nodiratime", "relatime", "strictatime", "lazytime",
      "nodev",   "nosuid",     "noexec",   "sync",        "dirsync",
  };
  MountFlags out;
  for (const auto& flag : flags) {
    if (flag == "ro") {
      out.read_only = true;
    } else if (flag == "rw") {
      out.read_only = false;
    } else if (flag == "defaults") {
      continue;
    } else if (kVfs.count(flag) > 0) {
      out.vfs.push_back(flag);
    } else {
      out.data += (out.data.empty() ? "" : ",") + flag;
    }
  }
  return out;
}

Status ValidateNodePath(std::string_view path, std::string_view field) {
  if (path.empty()) return absl::InvalidArgumentError(fmt::format("{} is required", field));
  if (path.size() > 4096) {
    return absl::InvalidArgumentError(fmt::format("{} is longer than 4096 bytes", field));
  }
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(fmt::format("{} contains a control character", field));
    }
  }
  if (path[0] != '/') {
    return absl::InvalidArgumentError(
        fmt::format("{} \"{}\" must be an absolute path", field, path.substr(0, 256)));
  }
  if (path == "/") {
    return absl::InvalidArgumentError(fmt::format("{} must not be the root directory", field));
  }
  if (path.back() == '/') {
    return absl::InvalidArgumentError(
        fmt::format("{} \"{}\" must be normalised (no trailing '/')", field, path.substr(0, 256)));
  }
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(
          fmt::format("{} \"{}\" must be normalised (no empty, '.' or '..' components)", field,
                      path.substr(0, 256)));
    }
    start = end + 1;
  }
  for (std::string_view system : {"/proc", "/sys", "/dev"}) {
    if (IsUnder(path, system)) {
      return absl::InvalidArgumentError(
          fmt::format("{} \"{}\" is under {}; volumes are never staged or published there", field,
                      path.substr(0, 256), system));
    }
  }
  return absl::OkStatus();
}

Status ValidateLookupPath(std::string_view path, std::string_view field) {
  bool relative = !path.empty() && path[0] != '/';
  if (!relative) return ValidateNodePath(path, field);
  // Too long or with control characters: still malformed, not merely absent.
  if (path.size() > 4096 ||
      std::any_of(path.begin(), path.end(),
                  [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return ValidateNodePath(path, field);
  }
  return absl::NotFoundError(fmt::format(
      "no volume is at {} \"{}\": it is a relative path, and volumes are staged and published "
      "at absolute paths; pass the path NodePublishVolume or NodeStageVolume was given",
      field, path.substr(0, 256)));
}

Status ValidateCapacityRange(const pb::CapacityRange& range, std::string_view field) {
  if (range.required_bytes() < 0 || range.limit_bytes() < 0) {
    return absl::InvalidArgumentError(
        fmt::format("{}: required_bytes ({}) and limit_bytes ({}) must not be negative", field,
                    range.required_bytes(), range.limit_bytes()));
  }
  if (range.limit_bytes() > 0 && range.limit_bytes() < range.required_bytes()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: limit_bytes ({}) is less than required_bytes ({}); set limit_bytes >= "
                    "required_bytes or leave it 0",
                    field, range.limit_bytes(), range.required_bytes()));
  }
  return absl::OkStatus();
}

uint64_t AlignCapacity(uint64_t bytes) {
  return (bytes + kCapacityAlignment - 1) / kCapacityAlignment * kCapacityAlignment;
}

StatusOr<uint64_t> ResolveCapacity(const pb::CapacityRange* range,
                                   std::optional<uint64_t> source_bytes) {
  uint64_t required = 0;
  uint64_t limit = 0;
  if (range != nullptr) {
    RETURN_IF_ERROR(ValidateCapacityRange(*range, "capacity_range"));
    required = static_cast<uint64_t>(range->required_bytes());
    limit = static_cast<uint64_t>(range->limit_bytes());
  }
  if (source_bytes.has_value()) {
    uint64_t source = *source_bytes;
    if (required > 0 && required < source) {
      return absl::OutOfRangeError(fmt::format(
          "capacity_range.required_bytes ({}) is less than the source's size ({}); a volume made "
          "from a source is at least as large as the source",
          required, source));
    }
    if (limit > 0 && limit < source) {
      return absl::OutOfRangeError(fmt::format(
          "capacity_range.limit_bytes ({}) is less than the source's size ({}); a volume made "
          "from a source is at least as large as the source",
          limit, source));
    }
    if (required <= source) return source;
    // Larger than the source: the node grows the filesystem at NodeStageVolume.
  }
  if (required == 0) {
    uint64_t size = kDefaultCapacityBytes;
    if (limit > 0 && limit < size) size = limit / kCapacityAlignment * kCapacityAlignment;
    if (size == 0) {
      return absl::OutOfRangeError(
          fmt::format("capacity_range.limit_bytes ({}) is less than one {}-byte block", limit,
                      kCapacityAlignment));
    }
    return size;
  }
  uint64_t size = AlignCapacity(required);
  if (limit > 0 && size > limit) {
    return absl::OutOfRangeError(fmt::format(
        "capacity_range: required_bytes ({}) rounded up to whole {}-byte blocks ({}) exceeds "
        "limit_bytes ({}); widen the range",
        required, kCapacityAlignment, size, limit));
  }
  return size;
}

namespace {

// "consistency": whether a copy is crash-consistent (true) or
// filesystem-consistent (false).
StatusOr<bool> ParseConsistency(const std::string& value) {
  if (value == kConsistencyFilesystem) return false;
  if (value == kConsistencyCrash) return true;
  return absl::InvalidArgumentError(fmt::format(
      "parameters.{} must be \"{}\" (freeze the source's filesystem around the copy, the "
      "default) or \"{}\" (no freeze: the copy is what a power cut would leave), not \"{}\"",
      kParamConsistency, kConsistencyFilesystem, kConsistencyCrash, value.substr(0, 32)));
}

}  // namespace

StatusOr<VolumeParameters> ParseVolumeParameters(const ProtoMap& parameters) {
  VolumeParameters out;
  for (const auto& [key, value] : parameters) {
    out.all[key] = value;
    if (HasPrefix(key, kKubernetesParamPrefix)) continue;
    if (key == kParamThick) {
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(
            fmt::format("parameters.{} must be \"true\" or \"false\", not \"{}\"", kParamThick,
                        value.substr(0, 32)));
      }
      out.thick = value == "true";
    } else if (key == kParamFsType) {
      RETURN_IF_ERROR(ValidateFsType(value, fmt::format("parameters.{}", kParamFsType)));
      out.fs_type = value;
    } else if (key == kParamConsistency) {
      ASSIGN_OR_RETURN(out.crash_consistent, ParseConsistency(value));
    } else {
      return absl::InvalidArgumentError(fmt::format(
          "parameters: unknown key \"{}\"; known keys: {} (\"true\"/\"false\"), {} (ext4/xfs), "
          "{} (\"{}\"/\"{}\"), and {}*",
          key.substr(0, 64), kParamThick, kParamFsType, kParamConsistency,
          kConsistencyFilesystem, kConsistencyCrash, kKubernetesParamPrefix));
    }
  }
  return out;
}

StatusOr<MutableParameters> ParseMutableParameters(const ProtoMap& parameters) {
  MutableParameters out;
  for (const auto& [key, value] : parameters) {
    if (HasPrefix(key, kKubernetesParamPrefix)) continue;
    if (key == kMutableProvisioning) {
      if (value != "thin" && value != "thick") {
        return absl::InvalidArgumentError(fmt::format(
            "mutable_parameters.{} must be \"thin\" or \"thick\", not \"{}\"",
            kMutableProvisioning, value.substr(0, 32)));
      }
      out.thick = value == "thick";
    } else if (key == kParamThick || key == kParamFsType) {
      return absl::InvalidArgumentError(fmt::format(
          "mutable_parameters: \"{}\" is fixed when the volume is made and cannot change; the "
          "mutable key is {} (\"thin\" or \"thick\")",
          key, kMutableProvisioning));
    } else {
      return absl::InvalidArgumentError(fmt::format(
          "mutable_parameters: unknown key \"{}\"; the mutable key is {} (\"thin\" or "
          "\"thick\")",
          key.substr(0, 64), kMutableProvisioning));
    }
  }
  return out;
}

StatusOr<SnapshotParameters> ParseSnapshotParameters(const ProtoMap& parameters) {
  SnapshotParameters out;
  for (const auto& [key, value] : parameters) {
    if (HasPrefix(key, kKubernetesParamPrefix)) continue;
    if (key == kParamConsistency) {
      ASSIGN_OR_RETURN(out.crash_consistent, ParseConsistency(value));
      continue;
    }
    return absl::InvalidArgumentError(fmt::format(
        "parameters: unknown key \"{}\"; snapshots take {} (\"{}\"/\"{}\") and {}*",
        key.substr(0, 64), kParamConsistency, kConsistencyFilesystem, kConsistencyCrash,
        kKubernetesParamPrefix));
  }
  return out;
}

bool TopologyAllows(const pb::TopologyRequirement& requirement, std::string_view node_id) {
  if (requirement.requisite().empty()) return true;
  for (const auto& topology : requirement.requisite()) {
    for (const auto& [key, value] : topology.segments()) {
      if (key == kTopologyKey && value == node_id) return true;
    }
  }
  return false;
}

std::string EncodePageToken(const PageToken& token) {
  return fmt::format("p1.{}.{}", token.created_at_ns, token.id);
}

StatusOr<PageToken> DecodePageToken(std::string_view token, bool (*valid_id)(std::string_view)) {
  auto bad = [&] {
    return absl::AbortedError(
        "starting_token is not a token this driver returned; start again with an empty "
        "starting_token");
  };
  if (!HasPrefix(token, "p1.")) return bad();
  std::string_view rest = token.substr(3);
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 19) return bad();
  std::string_view number = rest.substr(0, dot);
  if (!std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad();
  }
  PageToken out;
  out.created_at_ns = 0;
  for (char c : number) {
    if (out.created_at_ns > (INT64_MAX - (c - '0')) / 10) return bad();
    out.created_at_ns = out.created_at_ns * 10 + (c - '0');
  }
  out.id = std::string(rest.substr(dot + 1));
  if (!valid_id(out.id)) return bad();
  return out;
}

std::optional<catalog::ListPosition> ListPositionOf(const std::optional<PageToken>& token) {
  if (!token) return std::nullopt;
  return catalog::ListPosition{token->created_at_ns, token->id};
}

bool IsAfter(const PageToken& token, int64_t created_at_ns, std::string_view id) {
  if (created_at_ns != token.created_at_ns) return created_at_ns > token.created_at_ns;
  return id > std::string_view(token.id);
}

}  // namespace ditto::csi
