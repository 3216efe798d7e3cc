// The rules a PVC's data source must meet before the driver is asked to
// fill the new volume from it, as kubernetes-csi/external-provisioner
// enforces them (getPVCSource / getSnapshotSource), plus cross-namespace
// sources allowed by a ReferenceGrant.
#pragma once

#include <string>

#include "common/status.h"
#include "control/controllers/csi_client.h"
#include "control/api/object.h"
#include "control/apiserver/store.h"
#include "csi.pb.h"

namespace ditto::control {

// The data source a claim asks for: dataSourceRef when set, else dataSource.
struct DataSourceRef {
  std::string api_group;
  std::string kind;  // "" when the claim has no data source
  std::string name;
  std::string namespace_name;  // the claim's own unless dataSourceRef.namespace says otherwise
  bool IsClaim() const { return kind == "PersistentVolumeClaim" && api_group.empty(); }
  bool IsSnapshot() const {
    return kind == "VolumeSnapshot" && api_group == "snapshot.storage.k8s.io";
  }
};
DataSourceRef DataSourceOf(const Json& claim);

// A content source the rules accepted.
struct ResolvedSource {
  csi::v1::VolumeContentSource content;
  bool is_clone = false;  // content is a volume: the source claim gets cloning-protection
};

// Checks every rule for `claim`'s data source (which must be a claim or a
// snapshot) against the objects in `txn`, for provisioning with
// `storage_class` by the driver described by `info`. A violated rule is
// FailedPrecondition whose message says which rule and what to change.
StatusOr<ResolvedSource> ResolveDataSource(StoreTxn& txn, const Json& claim,
                                           const Json& storage_class, const DriverInfo& info);

// Whether a ReferenceGrant in `to_namespace` lets PersistentVolumeClaims in
// `from_namespace` use the object (`to_group`, `to_kind`, `to_name`).
StatusOr<bool> ReferenceGranted(StoreTxn& txn, const std::string& from_namespace,
                                const std::string& to_namespace, const std::string& to_group,
                                const std::string& to_kind, const std::string& to_name);

// Requested bytes of a claim (spec.resources.requests.storage); 0 if unset.
int64_t RequestedBytes(const Json& claim);
// Capacity bytes from a status/spec quantity at `path`; 0 if unset.
int64_t QuantityAt(const Json& object, std::initializer_list<std::string_view> path);

}  // namespace ditto::control
