#include "common/ids.h"

#include <openssl/sha.h>

#include <random>

#include "fmt/format.h"
#include "absl/strings/escaping.h"

namespace ditto {
namespace {

constexpr size_t kHexDigits = 32;

constexpr size_t kTagDigits = 8;
constexpr char kDigits[] = "0123456789abcdef";

bool IsHexTag(std::string_view tag) {
  if (tag.size() != kTagDigits) return false;
  for (char c : tag) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// `prefix` (a node tag, or "") and random digits up to 32.
std::string RandomHex(std::string_view prefix = "") {
  static thread_local std::random_device device;  // getrandom(2) on Linux
  std::string out(IsHexTag(prefix) ? prefix : std::string_view());
  out.reserve(kHexDigits);
  while (out.size() < kHexDigits) {
    unsigned value = device();
    for (int i = 0; i < 8 && out.size() < kHexDigits; ++i, value >>= 4) out += kDigits[value & 15];
  }
  return out;
}

bool HasPrefixAndHex(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + kHexDigits || id.substr(0, prefix.size()) != prefix) return false;
  for (char c : id.substr(prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Printable(std::string_view text) {
  std::string shown(text.substr(0, 80));
  return absl::CHexEscape(absl::string_view(shown)) + (text.size() > 80 ? "..." : "");
}

}  // namespace

std::string NewVolumeId() { return "vol-" + RandomHex(); }
std::string NewSnapshotId() { return "snap-" + RandomHex(); }
std::string NewVolumeId(std::string_view node_tag) { return "vol-" + RandomHex(node_tag); }
std::string NewSnapshotId(std::string_view node_tag) { return "snap-" + RandomHex(node_tag); }

std::string NodeTag(std::string_view node_id) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(node_id.data()), node_id.size(), digest);
  std::string tag;
  for (size_t i = 0; i < kTagDigits / 2; ++i) {
    tag += kDigits[digest[i] >> 4];
    tag += kDigits[digest[i] & 15];
  }
  return tag;
}

std::string TagOfId(std::string_view id) {
  for (std::string_view prefix : {"vol-", "snap-"}) {
    if (HasPrefixAndHex(id, prefix)) return std::string(id.substr(prefix.size(), kTagDigits));
  }
  return "";
}
std::string NewGroupSnapshotId() { return "group-" + RandomHex(); }
bool IsValidGroupSnapshotId(std::string_view id) { return HasPrefixAndHex(id, "group-"); }
bool IsValidVolumeId(std::string_view id) { return HasPrefixAndHex(id, "vol-"); }
bool IsValidSnapshotId(std::string_view id) { return HasPrefixAndHex(id, "snap-"); }

Status ValidateVolumeId(std::string_view id, std::string_view field) {
  if (id.empty()) return absl::InvalidArgumentError(fmt::format("{} is required", field));
  if (!IsValidVolumeId(id)) {
    return absl::InvalidArgumentError(fmt::format(
        "{} \"{}\" is not a ditto volume ID (expected vol- and 32 hex digits, as CreateVolume "
        "returns)", field, Printable(id)));
  }
  return absl::OkStatus();
}

Status ValidateSnapshotId(std::string_view id, std::string_view field) {
  if (id.empty()) return absl::InvalidArgumentError(fmt::format("{} is required", field));
  if (!IsValidSnapshotId(id)) {
    return absl::InvalidArgumentError(fmt::format(
        "{} \"{}\" is not a ditto snapshot ID (expected snap- and 32 hex digits, as "
        "CreateSnapshot returns)", field, Printable(id)));
  }
  return absl::OkStatus();
}

Status ValidateName(std::string_view name, std::string_view field) {
  if (name.empty()) return absl::InvalidArgumentError(fmt::format("{} is required", field));
  if (name.size() > 128) {
    return absl::InvalidArgumentError(fmt::format("{} is {} bytes long; at most 128 are allowed", field, name.size()));
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError(fmt::format(
          "{} \"{}\" contains a control or non-ASCII character", field, Printable(name)));
    }
  }
  return absl::OkStatus();
}

}  // namespace ditto
