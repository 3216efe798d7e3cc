// A pool's own filesystem, where the directory it is given does not suit its
// backend or an operator hands it a whole device: a backing file
// (DIR/backing.img) or a device, formatted at init and mounted at DIR/data
// whenever the pool is opened (after a reboot too).
#pragma once

#include "common/status.h"
#include "host/host.h"

namespace ditto::pool {

struct PoolLayout;

// Formats layout.backing_fs ("xfs" or "btrfs") on the backing file (made at
// layout.backing_size_bytes) or on layout.device, records the device's
// filesystem UUID in `layout`, and mounts it. A device that is mounted is
// refused; one that holds a filesystem or a partition table is refused
// unless `force`, naming what it holds.
Status MakeOwnFilesystem(host::Host& host, PoolLayout& layout, bool force);

// Mounts the pool's own filesystem at layout.data_dir unless it already is:
// the backing file through a loop device, a device found by its UUID.
Status MountOwnFilesystem(host::Host& host, const PoolLayout& layout);

}  // namespace ditto::pool
