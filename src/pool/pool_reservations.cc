// Thick reservations, after ZFS's `refreservation`: a thick volume can be
// overwritten entirely, whatever snapshots and clones share its blocks.
//
// A thick volume owns its blocks when it is made (fallocated; a thick clone
// or restore unshares what it got from its source). An overwrite of a block
// it alone holds happens in place (XFS; btrfs images are no-copy-on-write)
// and needs no free space. A block shared with a snapshot or clone needs a
// new one when written, and so does a hole. So each thick volume reserves
// capacity - exclusive bytes of the pool's free space, and every operation
// of ditto that takes free space or makes a thick volume's blocks shared
// (a thick create, clone or restore, a snapshot, group snapshot or clone of
// a thick volume, making a volume thick, expanding a thick one) is refused
// with ResourceExhausted when it would leave less free space than the
// reservations need. Writes into thin volumes are not held back: the kernel
// allocates their blocks as they come (see docs/thick-volumes.md).
#include "common/quantity.h"
#include "fmt/format.h"
#include "pool/pool.h"

namespace ditto::pool {

Pool::SpaceHold::~SpaceHold() {
  std::lock_guard lock(pool_.space_mu_);
  pool_.held_space_bytes_ -= bytes_;
}

StatusOr<uint64_t> Pool::ReservationOf(const catalog::VolumeRecord& volume) {
  if (!volume.thick) return 0;
  ASSIGN_OR_RETURN(ImageSpace space, ImageSpaceOf(VolumePath(volume.id)));
  const uint64_t capacity = static_cast<uint64_t>(volume.capacity_bytes);
  return capacity > space.exclusive_bytes ? capacity - space.exclusive_bytes : 0;
}

StatusOr<uint64_t> Pool::SharedByCopyOf(const catalog::VolumeRecord& source) {
  if (!source.thick) return 0;
  ASSIGN_OR_RETURN(ImageSpace space, ImageSpaceOf(VolumePath(source.id)));
  return space.exclusive_bytes;
}

StatusOr<uint64_t> Pool::ReservedBytes() {
  // Measured afresh, but only the thick volumes (an index finds them): an
  // application's discard may have freed blocks they own since the last look.
  ASSIGN_OR_RETURN(auto volumes, catalog_->ListThickVolumes());
  uint64_t reserved = 0;
  for (const auto& volume : volumes) {
    ASSIGN_OR_RETURN(uint64_t own, ReservationOf(volume));
    reserved += own;
  }
  return reserved;
}

StatusOr<uint64_t> Pool::AvailableBytes() {
  ASSIGN_OR_RETURN(uint64_t free_bytes, FreeBytes());
  ASSIGN_OR_RETURN(uint64_t reserved, ReservedBytes());
  return free_bytes > reserved ? free_bytes - reserved : 0;
}

StatusOr<std::unique_ptr<Pool::SpaceHold>> Pool::HoldSpace(uint64_t bytes, const std::string& what,
                                                           const std::string& except_volume_id) {
  if (bytes == 0) return std::make_unique<SpaceHold>(*this, 0);
  // Measuring and holding under one lock: two operations cannot both count
  // on free space that only one of them fits in.
  std::lock_guard lock(space_mu_);
  ASSIGN_OR_RETURN(uint64_t free_bytes, FreeBytes());
  // Thick volumes only, each measured now: the decision never rests on a
  // stale figure. Its cost grows with the thick volumes alone.
  ASSIGN_OR_RETURN(auto volumes, catalog_->ListThickVolumes());
  uint64_t reserved = 0;
  for (const auto& volume : volumes) {
    if (volume.id == except_volume_id) continue;
    ASSIGN_OR_RETURN(uint64_t own, ReservationOf(volume));
    reserved += own;
  }
  const uint64_t committed = reserved + held_space_bytes_;
  const uint64_t available = free_bytes > committed ? free_bytes - committed : 0;
  if (bytes > available) {
    return absl::ResourceExhaustedError(fmt::format(
        "{} needs {} bytes ({}) of free pool space, but the pool has {} free, of which {} are "
        "reserved for overwriting thick volumes{}: {} bytes ({}) are missing; free space "
        "(delete snapshots, clones or volumes), grow the pool, or make a thick volume thin "
        "(provisioning: thin), then retry",
        what, bytes, HumanBytes(bytes), HumanBytes(free_bytes), HumanBytes(reserved),
        held_space_bytes_ > 0
            ? fmt::format(" and {} held by operations in progress", HumanBytes(held_space_bytes_))
            : std::string(),
        bytes - available, HumanBytes(bytes - available)));
  }
  held_space_bytes_ += bytes;
  return std::make_unique<SpaceHold>(*this, bytes);
}

}  // namespace ditto::pool
