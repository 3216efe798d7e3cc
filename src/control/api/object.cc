#include "control/api/object.h"

#include <algorithm>
#include <ctime>
#include <random>

#include "common/clock.h"
#include "common/quantity.h"
#include "fmt/format.h"

namespace ditto::control {

const Json* Find(const Json& object, std::initializer_list<std::string_view> path) {
  const Json* current = &object;
  for (std::string_view key : path) {
    if (!current->is_object()) return nullptr;
    auto it = current->find(std::string(key));
    if (it == current->end()) return nullptr;
    current = &*it;
  }
  return current;
}

std::string GetString(const Json& object, std::initializer_list<std::string_view> path,
                      std::string_view fallback) {
  const Json* value = Find(object, path);
  if (value == nullptr || !value->is_string()) return std::string(fallback);
  return value->get<std::string>();
}

bool GetBool(const Json& object, std::initializer_list<std::string_view> path, bool fallback) {
  const Json* value = Find(object, path);
  if (value == nullptr || !value->is_boolean()) return fallback;
  return value->get<bool>();
}

std::string Kind(const Json& object) { return GetString(object, {"kind"}); }
std::string Name(const Json& object) { return GetString(object, {"metadata", "name"}); }
std::string Namespace(const Json& object) { return GetString(object, {"metadata", "namespace"}); }
std::string Uid(const Json& object) { return GetString(object, {"metadata", "uid"}); }

int64_t ResourceVersion(const Json& object) {
  std::string text = GetString(object, {"metadata", "resourceVersion"}, "0");
  return std::strtoll(text.c_str(), nullptr, 10);
}

bool IsBeingDeleted(const Json& object) {
  return Find(object, {"metadata", "deletionTimestamp"}) != nullptr;
}

bool HasFinalizer(const Json& object, std::string_view finalizer) {
  const Json* finalizers = Find(object, {"metadata", "finalizers"});
  if (finalizers == nullptr || !finalizers->is_array()) return false;
  return std::any_of(finalizers->begin(), finalizers->end(),
                     [&](const Json& item) { return item.is_string() && item == finalizer; });
}

bool AddFinalizer(Json& object, std::string_view finalizer) {
  if (HasFinalizer(object, finalizer)) return false;
  object["metadata"]["finalizers"].push_back(std::string(finalizer));
  return true;
}

bool RemoveFinalizer(Json& object, std::string_view finalizer) {
  if (!HasFinalizer(object, finalizer)) return false;
  Json& finalizers = object["metadata"]["finalizers"];
  Json kept = Json::array();
  for (const Json& item : finalizers) {
    if (item != finalizer) kept.push_back(item);
  }
  if (kept.empty()) {
    object["metadata"].erase("finalizers");
  } else {
    finalizers = std::move(kept);
  }
  return true;
}

std::string GetAnnotation(const Json& object, std::string_view key) {
  const Json* annotations = Find(object, {"metadata", "annotations"});
  if (annotations == nullptr || !annotations->is_object()) return "";
  auto it = annotations->find(std::string(key));
  if (it == annotations->end() || !it->is_string()) return "";
  return it->get<std::string>();
}

bool SetAnnotation(Json& object, std::string_view key, std::string_view value) {
  Json& annotations = object["metadata"]["annotations"];
  if (annotations.is_object()) {
    auto it = annotations.find(std::string(key));
    if (it != annotations.end() && *it == value) return false;
  }
  annotations[std::string(key)] = std::string(value);
  return true;
}

std::string Key(const Json& object) {
  std::string ns = Namespace(object);
  return ns.empty() ? Name(object) : fmt::format("{}/{}", ns, Name(object));
}

std::string FormatTimestamp(int64_t unix_nanos) {
  std::time_t seconds = static_cast<std::time_t>(unix_nanos / 1000000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string NowTimestamp() { return FormatTimestamp(NowNanos()); }

int64_t ParseTimestamp(std::string_view text) {
  std::tm tm{};
  std::string copy(text);
  const char* end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000000000;
}

std::string NewUid() {
  static thread_local std::mt19937_64 generator(std::random_device{}());
  uint64_t a = generator();
  uint64_t b = generator();
  // Version 4, variant 1.
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff,
                     b >> 48, b & 0xffffffffffffULL);
}

int64_t QuantityAt(const Json& object, std::initializer_list<std::string_view> path) {
  const Json* value = Find(object, path);
  if (value == nullptr) return 0;
  if (value->is_number()) return value->get<int64_t>();
  if (!value->is_string()) return 0;
  auto bytes = ParseQuantity(value->get<std::string>());
  return bytes.ok() ? *bytes : 0;
}

int64_t RequestedBytes(const Json& claim) {
  return QuantityAt(claim, {"spec", "resources", "requests", "storage"});
}

}  // namespace ditto::control
