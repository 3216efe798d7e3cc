// How pool commands name volumes the way `dittoctl get` shows them: a volume
// ID, the PersistentVolume name (get pvc's VOLUME column) or pvc/NAME with
// -n, resolved through the object store of --state; and which PV (and
// claim) uses a volume.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "host/host.h"

namespace ditto::cli {

struct VolumeUser {
  std::string volume_name;  // the PV
  std::string claim;        // "ns/name", or "" when unbound
  std::string phase;
};

// The volume ID `ref` names. `ns` is the namespace of a pvc/NAME.
StatusOr<std::string> ResolveVolumeRef(host::Host& host, const std::string& state_dir,
                                       const std::string& ref, const std::string& ns);

// The PV of the object store in `state_dir` whose volumeHandle is `id`.
StatusOr<std::optional<VolumeUser>> FindVolumeUser(host::Host& host, const std::string& state_dir,
                                                   const std::string& id);

}  // namespace ditto::cli
