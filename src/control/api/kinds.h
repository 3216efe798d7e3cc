// The object kinds dittoctl serves, with the names kubectl accepts for them
// (kind, plural, singular, short names) and the API group/version each lives in.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ditto::control {

struct KindInfo {
  std::string_view kind;                      // "PersistentVolumeClaim"
  std::string_view api_version;               // "v1", "storage.k8s.io/v1", ...
  std::string_view plural;                    // "persistentvolumeclaims" (used in messages)
  std::string_view singular;                  // "persistentvolumeclaim"
  std::vector<std::string_view> short_names;  // {"pvc"}
  bool namespaced = false;
  // "persistentvolumeclaims" or "storageclasses.storage.k8s.io": the
  // resource name kubectl prints in errors.
  std::string Resource() const;
  // "persistentvolumeclaim/NAME" or "storageclass.storage.k8s.io/NAME".
  std::string Ref(std::string_view name) const;
};

inline constexpr char kNamespace[] = "Namespace";
inline constexpr char kStorageClass[] = "StorageClass";
inline constexpr char kVolumeAttributesClass[] = "VolumeAttributesClass";
inline constexpr char kPersistentVolumeClaim[] = "PersistentVolumeClaim";
inline constexpr char kPersistentVolume[] = "PersistentVolume";
inline constexpr char kVolumeSnapshotClass[] = "VolumeSnapshotClass";
inline constexpr char kVolumeSnapshot[] = "VolumeSnapshot";
inline constexpr char kVolumeSnapshotContent[] = "VolumeSnapshotContent";
inline constexpr char kVolumeGroupSnapshotClass[] = "VolumeGroupSnapshotClass";
inline constexpr char kVolumeGroupSnapshot[] = "VolumeGroupSnapshot";
inline constexpr char kVolumeGroupSnapshotContent[] = "VolumeGroupSnapshotContent";
inline constexpr char kReferenceGrant[] = "ReferenceGrant";
inline constexpr char kEvent[] = "Event";

// Every kind, in the order `get all`-style listings use.
const std::vector<KindInfo>& AllKinds();

// The kind with this exact Kind name ("PersistentVolumeClaim"), or nullptr.
const KindInfo* FindKind(std::string_view kind);

// Resolves what a user typed on the command line: kind, plural, singular or
// short name, case-insensitive, optionally with the group
// ("storageclasses.storage.k8s.io"). nullptr when unknown.
const KindInfo* ResolveKind(std::string_view text);

// The API group of an apiVersion ("storage.k8s.io/v1" -> "storage.k8s.io",
// "v1" -> "").
std::string GroupOf(std::string_view api_version);

}  // namespace ditto::control
