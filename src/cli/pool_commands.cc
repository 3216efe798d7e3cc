#include "cli/pool_commands.h"

#include <algorithm>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/pool_refs.h"
#include "cli/pool_sharing.h"
#include "common/quantity.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "host/linux_host.h"
#include "pool/layout.h"
#include "pool/pool.h"

namespace ditto::cli {
namespace {

// Options shared by the subcommands; CLI11 binds into this.
struct PoolArgs {
  std::string pool_dir;       // "" = STATE/pool
  std::string state_dir;      // --state: its objects name volumes (pvc/NAME, PV names)
  std::string ns = "default";  // -n, for pvc/NAME
  // volume delete: even when a PV uses it; pool init: format a device that
  // holds something.
  bool force = false;
  std::string size = "20Gi";  // pool init: backing file size
  std::string capacity;       // volume create/expand
  std::string backing = "auto";
  std::string backend;  // pool init: btrfs or xfs ("" = $DITTO_POOL_BACKEND, else btrfs)
  std::string device;   // pool init: a whole disk or partition
  double overcommit_ratio = 10.0;
  std::string output = "table";
  std::string name;
  std::string id;
  std::string from_volume;
  std::string from_snapshot;
  bool thick = false;
};

nlohmann::json VolumeJson(const catalog::VolumeRecord& v) {
  return {{"id", v.id},
          {"name", v.name},
          {"capacityBytes", v.capacity_bytes},
          {"capacity", FormatQuantity(v.capacity_bytes)},
          {"sourceKind", v.source_kind},
          {"sourceId", v.source_id},
          {"cloneMethod", v.clone_method},
          {"thick", v.thick},
          {"state", catalog::StateName(v.state)}};
}

nlohmann::json SnapshotJson(const catalog::SnapshotRecord& s) {
  return {{"id", s.id},
          {"name", s.name},
          {"sourceVolumeId", s.source_volume_id},
          {"sizeBytes", s.size_bytes},
          {"size", FormatQuantity(s.size_bytes)},
          {"readyToUse", s.ready_to_use},
          {"cloneMethod", s.clone_method}};
}

nlohmann::json SpaceJson(const pool::ImageSpace& s) {
  return {{"sizeBytes", s.size_bytes},
          {"allocatedBytes", s.allocated_bytes},
          {"sharedBytes", s.shared_bytes},
          {"exclusiveBytes", s.exclusive_bytes},
          {"extents", s.extent_count}};
}

std::string Source(const catalog::VolumeRecord& v) {
  return v.source_id.empty() ? "-" : fmt::format("{} of {}", v.clone_method, v.source_id);
}

void PrintVolume(const catalog::VolumeRecord& v, const PoolArgs& args) {
  if (args.output == "json") {
    std::cout << VolumeJson(v).dump(2) << "\n";
  } else {
    std::cout << fmt::format("{:<36}  {:<24}  {:>8}  {}\n", v.id, v.name,
                             FormatQuantity(v.capacity_bytes), Source(v));
  }
}

void PrintSnapshot(const catalog::SnapshotRecord& s, const PoolArgs& args) {
  if (args.output == "json") {
    std::cout << SnapshotJson(s).dump(2) << "\n";
  } else {
    std::cout << fmt::format("{:<37}  {:<24}  {:>8}  {}\n", s.id, s.name,
                             FormatQuantity(s.size_bytes), s.source_volume_id);
  }
}

// Opens an existing pool for a command that only reads: a pool that is not
// there, or whose backing file or device is not mounted, is reported, not
// created or mounted.
StatusOr<std::unique_ptr<pool::Pool>> OpenForReading(host::Host& host, const PoolArgs& args) {
  auto layout = pool::ReadLayout(host, args.pool_dir);
  if (!layout.ok()) {
    if (absl::IsFailedPrecondition(layout.status())) {
      return absl::NotFoundError(fmt::format(
          "no pool at {}: the pool of --state {} is made by its first dittoctl apply or mount; "
          "name another with --pool DIR, or create one with dittoctl pool init DIR",
          args.pool_dir, args.state_dir));
    }
    return layout.status();
  }
  const bool own_filesystem = layout->backing_file || !layout->device.empty();
  if (own_filesystem && !host.Stat(layout->data_dir + "/catalog.db").ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "the pool at {} is not mounted (its {} is mounted again by the next command that "
        "changes the pool, e.g. dittoctl volume create or dittoctl mount); a read-only command "
        "does not mount it",
        args.pool_dir, layout->backing_file ? "backing file" : "device " + layout->device));
  }
  return pool::Pool::Open(host, args.pool_dir);
}

// The volume ID args.id names: an ID, a PV name or pvc/NAME (with -n).
StatusOr<std::string> VolumeId(host::Host& host, const PoolArgs& args) {
  return ResolveVolumeRef(host, args.state_dir, args.id, args.ns);
}

Status PoolInit(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(int64_t size, ParseQuantity(args.size));
  pool::InitOptions options;
  options.size_bytes = size;
  options.overcommit_ratio = args.overcommit_ratio;
  options.backing = args.backing == "always"  ? pool::Backing::kAlways
                    : args.backing == "never" ? pool::Backing::kNever
                                              : pool::Backing::kAuto;
  if (args.backend.empty()) {
    ASSIGN_OR_RETURN(options.backend, pool::DefaultBackendChoice());
  } else {
    ASSIGN_OR_RETURN(options.backend, pool::ParseBackendChoice(args.backend));
  }
  options.device = args.device;
  options.force = args.force;
  ASSIGN_OR_RETURN(auto pool, pool::Pool::Init(host, args.pool_dir, options));
  const pool::PoolLayout& layout = pool->layout();
  std::string where =
      !layout.device.empty()
          ? fmt::format("{} on device {} (UUID {}) mounted at {}", layout.backing_fs,
                        layout.device, layout.device_uuid, layout.data_dir)
      : layout.backing_file
          ? fmt::format("{} backing file of {} mounted at {}", layout.backing_fs,
                        FormatQuantity(size), layout.data_dir)
          : std::string("directly on its filesystem");
  std::cout << fmt::format("pool {} ready: {}, {}; {}\n", args.pool_dir, layout.backend, where,
                           pool->reflink() ? "clones share blocks"
                                           : "no reflink (clones are sparse copies)");
  return absl::OkStatus();
}

Status PoolStatusCommand(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(auto pool, OpenForReading(host, args));
  ASSIGN_OR_RETURN(auto status, pool->GetStatus());
  ASSIGN_OR_RETURN(PoolSharing sharing, MeasureSharing(*pool));
  if (args.output == "json") {
    nlohmann::json json = {{"dir", status.layout.dir},
                           {"dataDir", status.layout.data_dir},
                           {"backend", status.backend},
                           {"backingFile", status.layout.backing_file},
                           {"device", status.layout.device},
                           {"deviceUuid", status.layout.device_uuid},
                           {"filesystem", status.fs_type},
                           {"reflink", status.reflink},
                           {"capacityBytes", status.capacity_bytes},
                           {"usedBytes", status.used_bytes},
                           {"freeBytes", status.free_bytes},
                           {"reservedBytes", status.reserved_bytes},
                           {"volumes", status.volume_count},
                           {"snapshots", status.snapshot_count},
                           {"provisionedBytes", status.provisioned_bytes},
                           {"sharedBytes", status.shared_bytes},
                           {"savedBySharingBytes", sharing.SavedBytes()},
                           {"overcommitRatio", status.overcommit_ratio}};
    std::cout << json.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << fmt::format(
      "Pool:         {}\n"
      "Backend:      {}\n"
      "Data:         {}{}\n"
      "Filesystem:   {}\n"
      "Reflink:      {}\n"
      "Capacity:     {}\n"
      "Used:         {}\n"
      "Free:         {}\n"
      "Reserved:     {} of it for overwriting thick volumes\n"
      "Provisioned:  {} (overcommit ratio {})\n"
      "Volumes:      {}\n"
      "Snapshots:    {}\n"
      "Saved:        {} by sharing (the images hold {} of data in {} of blocks)\n",
      status.layout.dir, status.backend, status.layout.data_dir,
      !status.layout.device.empty()
          ? fmt::format(" (device {}, UUID {})", status.layout.device, status.layout.device_uuid)
      : status.layout.backing_file ? std::string(" (loop-mounted backing.img)")
                                   : std::string(),
      status.fs_type,
      status.reflink ? "yes" : "no", HumanBytes(status.capacity_bytes),
      HumanBytes(status.used_bytes), HumanBytes(status.free_bytes),
      HumanBytes(status.reserved_bytes),
      HumanBytes(status.provisioned_bytes), status.overcommit_ratio, status.volume_count,
      status.snapshot_count, HumanBytes(sharing.SavedBytes()), HumanBytes(sharing.allocated_bytes),
      HumanBytes(sharing.occupied_bytes));
  return absl::OkStatus();
}

Status SetOvercommit(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(auto pool, pool::Pool::Open(host, args.pool_dir));
  return pool->SetOvercommitRatio(args.overcommit_ratio);
}

Status VolumeCreate(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(auto pool, pool::Pool::Open(host, args.pool_dir));
  pool::CreateVolumeSpec spec;
  spec.name = args.name;
  if (!args.capacity.empty()) {
    ASSIGN_OR_RETURN(int64_t size, ParseQuantity(args.capacity));
    spec.capacity_bytes = size;
  }
  spec.thick = args.thick;
  if (!args.from_volume.empty() && !args.from_snapshot.empty()) {
    return absl::InvalidArgumentError("give --from-volume or --from-snapshot, not both");
  }
  if (!args.from_volume.empty()) {
    spec.source_kind = pool::SourceKind::kVolume;
    spec.source_id = args.from_volume;
  } else if (!args.from_snapshot.empty()) {
    spec.source_kind = pool::SourceKind::kSnapshot;
    spec.source_id = args.from_snapshot;
  }
  ASSIGN_OR_RETURN(auto result, pool->CreateVolume(spec));
  PrintVolume(result.volume, args);
  return absl::OkStatus();
}

Status VolumeList(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(auto pool, OpenForReading(host, args));
  ASSIGN_OR_RETURN(auto volumes, pool->ListVolumes());
  if (args.output == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& v : volumes) list.push_back(VolumeJson(v));
    std::cout << list.dump(2) << "\n";
    return absl::OkStatus();
  }
  // Columns as wide as their longest cell, like kubectl's tables.
  size_t id_width = 2, name_width = 4, capacity_width = 8;
  for (const auto& v : volumes) {
    id_width = std::max(id_width, v.id.size());
    name_width = std::max(name_width, v.name.size());
    capacity_width = std::max(capacity_width, FormatQuantity(v.capacity_bytes).size());
  }
  auto row = [&](const std::string& id, const std::string& name, const std::string& capacity,
                 const std::string& source) {
    std::cout << fmt::format("{:<{}}   {:<{}}   {:>{}}   {}\n", id, id_width, name, name_width,
                             capacity, capacity_width, source);
  };
  row("ID", "NAME", "CAPACITY", "SOURCE");
  for (const auto& v : volumes) row(v.id, v.name, FormatQuantity(v.capacity_bytes), Source(v));
  return absl::OkStatus();
}

Status VolumeShow(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(std::string id, VolumeId(host, args));
  ASSIGN_OR_RETURN(auto pool, OpenForReading(host, args));
  ASSIGN_OR_RETURN(auto volume, pool->GetVolume(id));
  ASSIGN_OR_RETURN(auto space, pool->VolumeSpace(id));
  ASSIGN_OR_RETURN(PoolSharing sharing, MeasureSharing(*pool));
  std::vector<std::string> partners = sharing.shares_with[id];
  ASSIGN_OR_RETURN(std::optional<VolumeUser> user, FindVolumeUser(host, args.state_dir, id));
  if (args.output == "json") {
    nlohmann::json json = VolumeJson(volume);
    json["path"] = pool->VolumePath(volume.id);
    json["space"] = SpaceJson(space);
    json["sharesBlocksWith"] = partners;
    if (user.has_value()) {
      json["persistentVolume"] = user->volume_name;
      json["claim"] = user->claim;
    }
    std::cout << json.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << fmt::format(
      "ID:         {}\nName:       {}\nCapacity:   {}\nSource:     {}\nImage:      {}\n"
      "Allocated:  {} in {} extents\nShared:     {}\nExclusive:  {}\nShares with: {}\n"
      "Used by:    {}\n",
      volume.id, volume.name, FormatQuantity(volume.capacity_bytes), Source(volume),
      pool->VolumePath(volume.id), HumanBytes(space.allocated_bytes), space.extent_count,
      HumanBytes(space.shared_bytes), HumanBytes(space.exclusive_bytes),
      partners.empty() ? std::string("-") : fmt::format("{}", fmt::join(partners, ", ")),
      user.has_value() ? fmt::format("PersistentVolume {}{}", user->volume_name,
                                     user->claim.empty() ? "" : " (claim " + user->claim + ")")
                       : std::string("-"));
  return absl::OkStatus();
}

Status VolumeExpand(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(std::string id, VolumeId(host, args));
  ASSIGN_OR_RETURN(auto pool, pool::Pool::Open(host, args.pool_dir));
  ASSIGN_OR_RETURN(int64_t size, ParseQuantity(args.capacity));
  ASSIGN_OR_RETURN(auto volume, pool->GetVolume(id));
  if (size < volume.capacity_bytes) {
    return absl::OutOfRangeError(fmt::format("volume {} is {}; volumes can only grow",
                                             id, FormatQuantity(volume.capacity_bytes)));
  }
  ASSIGN_OR_RETURN(volume, pool->ExpandVolume(id, size));
  PrintVolume(volume, args);
  return absl::OkStatus();
}

Status VolumeDelete(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(std::string id, VolumeId(host, args));
  ASSIGN_OR_RETURN(std::optional<VolumeUser> user, FindVolumeUser(host, args.state_dir, id));
  if (user.has_value() && !args.force) {
    return absl::FailedPreconditionError(fmt::format(
        "volume {} backs PersistentVolume {}{}: deleting it would break {}; delete the claim "
        "instead (dittoctl delete pvc NAME -n NAMESPACE; reclaim policy Delete removes the "
        "volume), or pass --force to delete the volume anyway",
        id, user->volume_name, user->claim.empty() ? "" : " (claim " + user->claim + ")",
        user->claim.empty() ? "that PV" : "the claim"));
  }
  ASSIGN_OR_RETURN(auto pool, pool::Pool::Open(host, args.pool_dir));
  RETURN_IF_ERROR(pool->DeleteVolume(id));
  std::cout << fmt::format("volume {} deleted\n", id);
  return absl::OkStatus();
}

Status SnapshotCreate(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(auto pool, pool::Pool::Open(host, args.pool_dir));
  ASSIGN_OR_RETURN(auto result, pool->CreateSnapshot(args.name, args.id));
  PrintSnapshot(result.snapshot, args);
  return absl::OkStatus();
}

Status SnapshotList(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(auto pool, OpenForReading(host, args));
  ASSIGN_OR_RETURN(auto snapshots, pool->ListSnapshots());
  if (args.output == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : snapshots) list.push_back(SnapshotJson(s));
    std::cout << list.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << fmt::format("{:<37}  {:<24}  {:>8}  {}\n", "ID", "NAME", "SIZE", "SOURCE VOLUME");
  for (const auto& s : snapshots) PrintSnapshot(s, args);
  return absl::OkStatus();
}

Status SnapshotDelete(host::Host& host, const PoolArgs& args) {
  ASSIGN_OR_RETURN(auto pool, pool::Pool::Open(host, args.pool_dir));
  RETURN_IF_ERROR(pool->DeleteSnapshot(args.id));
  std::cout << fmt::format("snapshot {} deleted\n", args.id);
  return absl::OkStatus();
}

}  // namespace

// Kept in one piece: a table of subcommands, one short block
// each, in the order --help lists them.
void RegisterPoolCommands(CLI::App& app, const GlobalFlags* flags, int* exit_code) {
  static host::LinuxHost host;
  auto args = std::make_shared<PoolArgs>();
  auto bind = [&app, flags, exit_code, args](
                  CLI::App* command, std::function<Status(host::Host&, const PoolArgs&)> run) {
    command->callback([flags, exit_code, args, run] {
      // The pool of --state unless --pool (or DIR) names another.
      args->state_dir = flags->state_dir;
      if (args->pool_dir.empty()) args->pool_dir = flags->state_dir + "/pool";
      Status status = run(host, *args);
      if (!status.ok()) std::cerr << "error: " << status.message() << "\n";
      *exit_code = status.ok() ? 0 : 1;
    });
  };
  auto add_output = [args](CLI::App* command) {
    command->add_option("-o,--output", args->output, "table or json")
        ->check(CLI::IsMember({"table", "json"}));
  };
  auto add_pool = [args](CLI::App* command) {
    command->add_option("--pool", args->pool_dir, "pool directory (default: STATE/pool)");
  };
  auto add_volume_ref = [args](CLI::App* command) {
    command->add_option("id", args->id, "volume ID, PersistentVolume name, or pvc/NAME with -n")
        ->required();
    command->add_option("-n,--namespace", args->ns, "namespace of pvc/NAME")
        ->capture_default_str();
  };

  CLI::App* pool = app.add_subcommand("pool", "Create and inspect a storage pool directory");
  pool->require_subcommand(1);
  CLI::App* init = pool->add_subcommand("init", "Create a pool in DIR");
  init->add_option("dir", args->pool_dir, "pool directory (absolute)")->required();
  init->add_option("--backend", args->backend,
                   "btrfs (default; each volume a subvolume, clones are O(1) snapshots) or xfs "
                   "(reflinked image files); $DITTO_POOL_BACKEND sets the default")
      ->check(CLI::IsMember({"btrfs", "xfs"}));
  init->add_option("--device", args->device,
                   "a whole disk or partition for the pool's filesystem (formatted; no backing "
                   "file)");
  init->add_flag("--force", args->force,
                 "with --device: format it even if it holds a filesystem or partition table");
  init->add_option("--size", args->size, "backing file size when DIR does not suit the backend")
      ->capture_default_str();
  init->add_option("--backing", args->backing,
                   "auto: a loop-mounted backing file only when DIR's filesystem does not suit "
                   "the backend; always; never (use DIR as it is)")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  init->add_option("--overcommit-ratio", args->overcommit_ratio,
                   "provisioned capacity allowed per byte of pool capacity")
      ->capture_default_str();
  bind(init, PoolInit);
  CLI::App* status = pool->add_subcommand("status", "Show capacity, usage and sharing of a pool");
  status->add_option("dir", args->pool_dir, "pool directory (default: the pool of --state)");
  add_output(status);
  bind(status, PoolStatusCommand);
  CLI::App* overcommit = pool->add_subcommand("set-overcommit", "Set the over-commit ratio");
  overcommit->add_option("dir", args->pool_dir, "pool directory")->required();
  overcommit->add_option("ratio", args->overcommit_ratio, "for example 10")->required();
  bind(overcommit, SetOvercommit);

  CLI::App* volume = app.add_subcommand("volume", "Operate on volume images in a pool");
  volume->require_subcommand(1);
  CLI::App* create = volume->add_subcommand("create", "Create a volume, empty or from a source");
  add_pool(create);
  add_output(create);
  create->add_option("name", args->name, "unique volume name")->required();
  create->add_option("--size", args->capacity, "capacity (default: the source's)");
  create->add_flag("--thick", args->thick, "allocate every block now");
  create->add_option("--from-volume", args->from_volume, "clone this volume ID");
  create->add_option("--from-snapshot", args->from_snapshot, "restore this snapshot ID");
  bind(create, VolumeCreate);
  CLI::App* list = volume->add_subcommand("list", "List volumes");
  add_pool(list);
  add_output(list);
  bind(list, VolumeList);
  CLI::App* show = volume->add_subcommand("show", "Show a volume and its space use");
  add_pool(show);
  add_output(show);
  add_volume_ref(show);
  bind(show, VolumeShow);
  CLI::App* expand = volume->add_subcommand("expand", "Grow a volume");
  add_pool(expand);
  add_output(expand);
  add_volume_ref(expand);
  expand->add_option("size", args->capacity, "new capacity, for example 2Gi")->required();
  bind(expand, VolumeExpand);
  CLI::App* remove = volume->add_subcommand("delete", "Delete a volume");
  add_pool(remove);
  add_volume_ref(remove);
  remove->add_flag("--force", args->force, "delete even a volume a PersistentVolume uses");
  bind(remove, VolumeDelete);

  CLI::App* snapshot = app.add_subcommand("snapshot", "Operate on snapshots in a pool");
  snapshot->require_subcommand(1);
  CLI::App* snap_create = snapshot->add_subcommand("create", "Snapshot a volume");
  add_pool(snap_create);
  add_output(snap_create);
  snap_create->add_option("name", args->name, "unique snapshot name")->required();
  snap_create->add_option("volume", args->id, "source volume ID")->required();
  bind(snap_create, SnapshotCreate);
  CLI::App* snap_list = snapshot->add_subcommand("list", "List snapshots");
  add_pool(snap_list);
  add_output(snap_list);
  bind(snap_list, SnapshotList);
  CLI::App* snap_delete = snapshot->add_subcommand("delete", "Delete a snapshot");
  add_pool(snap_delete);
  snap_delete->add_option("id", args->id, "snapshot ID")->required();
  bind(snap_delete, SnapshotDelete);
}

}  // namespace ditto::cli
