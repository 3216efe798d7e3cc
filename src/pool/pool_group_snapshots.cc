// Volume group snapshots: several volumes' snapshots taken in one frozen
// window and committed together.
#include <algorithm>
#include <map>
#include <set>

#include "common/clock.h"
#include "common/failpoint.h"
#include "common/ids.h"
#include "fmt/format.h"
#include "pool/freezer.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {

StatusOr<Pool::GroupSnapshot> Pool::CreateGroupSnapshot(const std::string& name,
                                                        const std::vector<std::string>& volume_ids,
                                                        Consistency consistency) {
  RETURN_IF_ERROR(ValidateName(name));
  if (volume_ids.empty()) {
    return absl::InvalidArgumentError(
        "a group snapshot needs at least one volume (source_volume_ids is empty)");
  }
  std::vector<std::string> sorted = volume_ids;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return absl::InvalidArgumentError(fmt::format(
        "source_volume_ids names volume {} twice; list each volume once",
        *std::adjacent_find(sorted.begin(), sorted.end())));
  }
  std::vector<std::string> shared;
  for (const std::string& id : sorted) {
    RETURN_IF_ERROR(ValidateVolumeId(id, "source_volume_ids"));
    shared.push_back("vol:" + id);
  }
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"groupname:" + name}, shared));

  ASSIGN_OR_RETURN(auto existing, FindGroupSnapshotByName(name));
  if (existing) {
    std::vector<std::string> have;
    for (const auto& member : existing->members) have.push_back(member.source_volume_id);
    std::sort(have.begin(), have.end());
    if (have != sorted) {
      return absl::AlreadyExistsError(fmt::format(
          "a group snapshot named {} already exists ({}) of {} other volumes; repeat the "
          "original request or use another name",
          name, existing->group.id, have.size()));
    }
    return *existing;
  }

  std::vector<catalog::VolumeRecord> volumes;
  for (const std::string& id : sorted) {
    auto volume = GetVolume(id);
    if (absl::IsNotFound(volume.status())) {
      return absl::NotFoundError(fmt::format(
          "volume {} is not in this node's pool; a group snapshot's volumes must all exist on "
          "one node",
          id));
    }
    RETURN_IF_ERROR(volume.status());
    volumes.push_back(*volume);
  }
  // Each thick member's own blocks become shared with its snapshot.
  uint64_t shared_thick = 0;
  for (const auto& volume : volumes) {
    ASSIGN_OR_RETURN(uint64_t own, SharedByCopyOf(volume));
    shared_thick += own;
  }
  ASSIGN_OR_RETURN(auto space_hold,
                   HoldSpace(shared_thick, fmt::format("group snapshot {} (its thick volumes' "
                                                       "blocks become shared, and overwriting "
                                                       "them takes new ones)",
                                                       name)));

  GroupSnapshot result;
  result.created = true;
  result.group.id = NewGroupSnapshotId();
  result.group.name = name;
  result.group.created_at_ns = NowNanos();
  std::vector<std::string> temps;
  std::vector<std::string> finals;
  for (const auto& volume : volumes) {
    catalog::SnapshotRecord member;
    member.id = NewSnapshotId(id_tag_);
    member.name = fmt::format("{}-{}", result.group.id, volume.id);
    member.source_volume_id = volume.id;
    member.size_bytes = volume.capacity_bytes;
    member.state = catalog::State::kReady;
    member.ready_to_use = true;
    member.created_at_ns = result.group.created_at_ns;
    result.members.push_back(member);
  }
  std::sort(result.members.begin(), result.members.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& member : result.members) result.group.snapshot_ids.push_back(member.id);

  auto make_group = [&]() -> Status {
    {
      // Mount points are frozen in path order, so freeze turns are always
      // taken in one order: no lock cycle between two groups (or a group
      // and a copy), whatever volumes a path has served.
      // Crash-consistent: nothing frozen, the members copied back to back.
      std::map<std::string, std::string> mounted;  // staging path -> volume ID
      for (const auto& volume : volumes) {
        if (consistency == Consistency::kCrash) break;
        ASSIGN_OR_RETURN(auto stage, catalog_->FindStage(volume.id));
        if (!stage || stage->block || stage->staging_path.empty()) continue;
        mounted[stage->staging_path] = volume.id;
      }
      FreezeWindow window(host_, freeze_limit_);
      for (const auto& [staging_path, volume_id] : mounted) {
        Status frozen = window.Freeze(staging_path);
        if (!frozen.ok()) {
          return Status(frozen.code(),
                        fmt::format("cannot freeze the filesystem of volume {} at {} for a "
                                    "crash-consistent group snapshot: {}; nothing was snapshotted",
                                    volume_id, staging_path, std::string(frozen.message())));
        }
      }
      // Every member is already frozen: the backend's copy runs as it is.
      FrozenRunner as_is = [](const std::function<void()>&,
                              const std::function<Status()>& step) { return step(); };
      // A backend that copies in place makes each member read-only and final
      // inside the window; any other's are sealed after the thaw.
      for (auto& member : result.members) {
        std::string temp = CopyEntry(member.id, SnapshotEntry(member.id));
        temps.push_back(temp);
        const std::string source = VolumeEntry(member.source_volume_id);
        ASSIGN_OR_RETURN(member.clone_method,
                         backend_->copies_in_place()
                             ? backend_->Snapshot(source, temp, member.size_bytes, as_is)
                             : backend_->Clone(source, temp, member.size_bytes, as_is));
      }
      RETURN_IF_ERROR(Failpoint("pool.group_snapshot.frozen"));
      RETURN_IF_ERROR(window.Close());  // thawed: the images are complete, the rest is bookkeeping
    }
    for (const auto& member : result.members) {
      std::string final_path = SnapshotEntry(member.id);
      finals.push_back(final_path);
      std::string temp = CopyEntry(member.id, final_path);
      if (temp == final_path) continue;  // made read-only and final in the window
      RETURN_IF_ERROR(PublishImage(temp, final_path));
      RETURN_IF_ERROR(backend_->Seal(final_path));
    }
    return catalog_->InsertGroupSnapshot(result.group, result.members);
  };
  Status made = make_group();
  if (!made.ok()) {
    for (const auto& temp : temps) (void)RemoveIfPresent(temp);
    for (const auto& final_path : finals) {
      Status removed = RemoveIfPresent(final_path);
      if (!removed.ok()) {
        spdlog::error("cannot roll back group snapshot {}: {}; removed when the pool is next opened",
                      result.group.id, std::string(removed.message()));
      }
    }
    return made;
  }
  for (const auto& member : result.members) {
    space_.Track(SnapshotKey(member.id), SnapshotPath(member.id));
    space_.Invalidate(VolumeKey(member.source_volume_id));
  }
  spdlog::info("created group snapshot {} ({}) of {} volumes", result.group.id, name,
               result.members.size());
  return result;
}

StatusOr<Pool::GroupSnapshot> Pool::GetGroupSnapshot(const std::string& id) {
  if (!IsValidGroupSnapshotId(id)) {
    return absl::NotFoundError(
        fmt::format("group snapshot {} does not exist (not an ID this driver made)",
                    id.substr(0, 128)));
  }
  ASSIGN_OR_RETURN(auto group, catalog_->FindGroupSnapshot(id));
  if (!group) return absl::NotFoundError(fmt::format("group snapshot {} does not exist", id));
  GroupSnapshot result;
  result.group = *group;
  for (const std::string& member_id : group->snapshot_ids) {
    ASSIGN_OR_RETURN(auto member, catalog_->FindSnapshot(member_id));
    // A member deleted on its own (DeleteSnapshot) is simply no longer listed.
    if (member) result.members.push_back(*member);
  }
  return result;
}

StatusOr<std::optional<Pool::GroupSnapshot>> Pool::FindGroupSnapshotByName(
    const std::string& name) {
  RETURN_IF_ERROR(ValidateName(name));
  ASSIGN_OR_RETURN(auto group, catalog_->FindGroupSnapshotByName(name));
  if (!group) return std::optional<GroupSnapshot>();
  ASSIGN_OR_RETURN(auto result, GetGroupSnapshot(group->id));
  return std::optional<GroupSnapshot>(std::move(result));
}

Status Pool::DeleteGroupSnapshot(const std::string& id) {
  if (!IsValidGroupSnapshotId(id)) return absl::OkStatus();  // names no group: already gone
  ASSIGN_OR_RETURN(auto group, catalog_->FindGroupSnapshot(id));
  if (!group) return absl::OkStatus();
  std::vector<std::string> keys = {"group:" + id};
  for (const auto& member : group->snapshot_ids) keys.push_back("snap:" + member);
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire(keys));
  // The rows' removal is the commit point, as for single snapshots.
  std::vector<std::optional<catalog::SnapshotRecord>> members;
  for (const auto& member : group->snapshot_ids) {
    ASSIGN_OR_RETURN(auto record, catalog_->FindSnapshot(member));
    members.push_back(std::move(record));
  }
  RETURN_IF_ERROR(catalog_->DeleteGroupSnapshot(id));
  for (const auto& member : members) {
    if (!member) continue;
    space_.Forget(SnapshotKey(member->id));
    space_.Invalidate(VolumeKey(member->source_volume_id));
  }
  for (const auto& member : group->snapshot_ids) {
    RETURN_IF_ERROR(RemoveIfPresent(SnapshotEntry(member)));
  }
  spdlog::info("deleted group snapshot {} and its {} snapshots", id, group->snapshot_ids.size());
  return absl::OkStatus();
}

}  // namespace ditto::pool
