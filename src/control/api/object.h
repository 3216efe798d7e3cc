// Kubernetes objects are held as JSON (the API server's own wire form).
// These helpers read and change the parts every kind shares: metadata,
// finalizers, annotations, and the well-known names the controllers use.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace ditto::control {

using Json = nlohmann::json;

// Finalizers and annotations Kubernetes controllers use.
inline constexpr char kPvcProtectionFinalizer[] = "kubernetes.io/pvc-protection";
inline constexpr char kPvProtectionFinalizer[] = "kubernetes.io/pv-protection";
inline constexpr char kCloningProtectionFinalizer[] =
    "provisioner.storage.kubernetes.io/cloning-protection";
inline constexpr char kProvisionerFinalizer[] =
    "external-provisioner.volume-kubernetes.io/finalizer";
inline constexpr char kSnapshotBoundFinalizer[] =
    "snapshot.storage.kubernetes.io/volumesnapshot-bound-protection";
inline constexpr char kSnapshotContentFinalizer[] =
    "snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection";
inline constexpr char kNamespaceFinalizer[] = "kubernetes";
inline constexpr char kDefaultClassAnnotation[] = "storageclass.kubernetes.io/is-default-class";
inline constexpr char kDefaultSnapshotClassAnnotation[] =
    "snapshot.storage.kubernetes.io/is-default-class";
inline constexpr char kStorageProvisionerAnnotation[] = "volume.kubernetes.io/storage-provisioner";
inline constexpr char kBetaStorageProvisionerAnnotation[] =
    "volume.beta.kubernetes.io/storage-provisioner";
inline constexpr char kSelectedNodeAnnotation[] = "volume.kubernetes.io/selected-node";
inline constexpr char kBindCompletedAnnotation[] = "pv.kubernetes.io/bind-completed";
inline constexpr char kBoundByControllerAnnotation[] = "pv.kubernetes.io/bound-by-controller";
inline constexpr char kProvisionedByAnnotation[] = "pv.kubernetes.io/provisioned-by";
inline constexpr char kLastAppliedAnnotation[] = "kubectl.kubernetes.io/last-applied-configuration";

// The group snapshot API (groupsnapshot.storage.k8s.io) and the names its
// snapshot-controller puts on objects.
inline constexpr char kGroupSnapshotApiVersion[] = "groupsnapshot.storage.k8s.io/v1beta2";
inline constexpr char kDefaultGroupSnapshotClassAnnotation[] =
    "groupsnapshot.storage.kubernetes.io/is-default-class";
inline constexpr char kGroupSnapshotBoundFinalizer[] =
    "groupsnapshot.storage.kubernetes.io/volumegroupsnapshot-bound-protection";
inline constexpr char kGroupSnapshotContentFinalizer[] =
    "groupsnapshot.storage.kubernetes.io/volumegroupsnapshotcontent-bound-protection";
// On each member VolumeSnapshot: it goes only with its group.
inline constexpr char kSnapshotInGroupFinalizer[] =
    "snapshot.storage.kubernetes.io/volumesnapshot-in-group-protection";
// The label on each member VolumeSnapshot naming its VolumeGroupSnapshot.
inline constexpr char kGroupSnapshotNameLabel[] =
    "groupsnapshot.storage.k8s.io/volumeGroupSnapshotName";
// The annotation on each member VolumeSnapshotContent: the CSI group ID.
inline constexpr char kGroupSnapshotHandleAnnotation[] =
    "groupsnapshot.storage.k8s.io/volumeGroupSnapshotHandle";

// The value at `path` (object keys) or nullptr when any step is missing or
// not an object.
const Json* Find(const Json& object, std::initializer_list<std::string_view> path);
// The string at `path`, or `fallback` when missing or not a string.
std::string GetString(const Json& object, std::initializer_list<std::string_view> path,
                      std::string_view fallback = "");
bool GetBool(const Json& object, std::initializer_list<std::string_view> path,
             bool fallback = false);

std::string Kind(const Json& object);
std::string Name(const Json& object);
std::string Namespace(const Json& object);
std::string Uid(const Json& object);
int64_t ResourceVersion(const Json& object);
bool IsBeingDeleted(const Json& object);

// The byte count of a quantity ("1Gi" or a number) at `path`; 0 when missing
// or not a quantity.
int64_t QuantityAt(const Json& object, std::initializer_list<std::string_view> path);
// A claim's spec.resources.requests.storage in bytes.
int64_t RequestedBytes(const Json& claim);

bool HasFinalizer(const Json& object, std::string_view finalizer);
// Return whether the object changed.
bool AddFinalizer(Json& object, std::string_view finalizer);
bool RemoveFinalizer(Json& object, std::string_view finalizer);

std::string GetAnnotation(const Json& object, std::string_view key);
bool SetAnnotation(Json& object, std::string_view key, std::string_view value);

// "ns/name" for namespaced objects, "name" otherwise.
std::string Key(const Json& object);

// RFC 3339 UTC time with second precision, as the API server writes it.
std::string FormatTimestamp(int64_t unix_nanos);
std::string NowTimestamp();
// Unix nanoseconds of an RFC 3339 time; 0 when it does not parse.
int64_t ParseTimestamp(std::string_view text);

// A new random UID in the 8-4-4-4-12 form.
std::string NewUid();

}  // namespace ditto::control
