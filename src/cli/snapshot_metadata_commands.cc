#include "cli/snapshot_metadata_commands.h"

#include <iostream>
#include <memory>

#include "control/api/kinds.h"
#include "control/api/object.h"
#include "fmt/format.h"
#include <nlohmann/json.hpp>

namespace ditto::cli {
namespace {

struct MetadataArgs {
  std::string ns;
  std::string output = "table";
  std::string base;
  std::string target;
};

// The CSI snapshot ID behind a ready VolumeSnapshot.
StatusOr<std::string> SnapshotHandle(control::ControlPlane& plane, const std::string& ns,
                                     const std::string& name) {
  std::string handle;
  RETURN_IF_ERROR(plane.store().Transact([&](control::StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(auto snapshot, txn.Get(control::kVolumeSnapshot, ns, name));
    if (!snapshot) {
      return absl::NotFoundError(fmt::format(
          "volumesnapshots.snapshot.storage.k8s.io \"{}\" not found in namespace {}", name, ns));
    }
    std::string content_name =
        control::GetString(*snapshot, {"status", "boundVolumeSnapshotContentName"});
    if (content_name.empty()) {
      return absl::FailedPreconditionError(fmt::format(
          "VolumeSnapshot {}/{} is not bound to a VolumeSnapshotContent yet; wait until it is "
          "ready (dittoctl wait vs/{} --for=ready -n {})",
          ns, name, name, ns));
    }
    ASSIGN_OR_RETURN(auto content, txn.Get(control::kVolumeSnapshotContent, "", content_name));
    if (content) handle = control::GetString(*content, {"status", "snapshotHandle"});
    if (handle.empty()) {
      return absl::FailedPreconditionError(fmt::format(
          "VolumeSnapshotContent {} of VolumeSnapshot {}/{} has no snapshotHandle yet; wait "
          "until the snapshot is ready",
          content_name, ns, name));
    }
    return absl::OkStatus();
  }));
  return handle;
}

std::string Human(int64_t bytes) {
  static const char* const kUnits[] = {"", "Ki", "Mi", "Gi", "Ti"};
  int unit = 0;
  int64_t value = bytes;
  while (unit < 4 && value >= 1024 && value % 1024 == 0) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{}{}", value, kUnits[unit]);
}

void Print(const control::BlockMetadata& metadata, const std::string& output,
           const std::string& what) {
  int64_t total = 0;
  for (const auto& [offset, length] : metadata.ranges) total += length;
  if (output == "json") {
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto& [offset, length] : metadata.ranges) {
      ranges.push_back({{"offset", offset}, {"length", length}});
    }
    nlohmann::json out = {{"volumeCapacityBytes", metadata.volume_capacity_bytes},
                          {"rangeCount", metadata.ranges.size()},
                          {"bytes", total},
                          {"ranges", ranges}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format("{:<16} {:<16} {}\n", "OFFSET", "LENGTH", "END");
  for (const auto& [offset, length] : metadata.ranges) {
    std::cout << fmt::format("{:<16} {:<16} {}\n", offset, Human(length), offset + length);
  }
  std::cout << fmt::format("{} ranges, {} ({} bytes) {} of {}\n", metadata.ranges.size(),
                           Human(total), total, what, Human(metadata.volume_capacity_bytes));
}

void Fail(const Status& status, int* exit_code) {
  std::cerr << "error: " << status.message() << "\n";
  *exit_code = 1;
}

}  // namespace

void RegisterSnapshotMetadataCommands(CLI::App& app, GlobalFlags* flags, int* exit_code) {
  CLI::App* snapshot = app.get_subcommand("snapshot");
  auto args = std::make_shared<MetadataArgs>();

  CLI::App* diff = snapshot->add_subcommand(
      "diff", "Changed byte ranges between two VolumeSnapshots of one claim (GetMetadataDelta)");
  diff->add_option("base", args->base, "the earlier VolumeSnapshot")->required();
  diff->add_option("target", args->target, "the later VolumeSnapshot")->required();
  diff->add_option("-n,--namespace", args->ns, "Namespace (default: default)");
  diff->add_option("-o,--output", args->output, "table|json")
      ->check(CLI::IsMember({"table", "json"}));
  diff->callback([flags, args, exit_code] {
    std::string ns = args->ns.empty() ? "default" : args->ns;
    auto run = [&]() -> Status {
      ASSIGN_OR_RETURN(auto session, Session::Open(*flags));
      RETURN_IF_ERROR(session->plane().Reconcile());  // controllers run inside each command
      ASSIGN_OR_RETURN(std::string base, SnapshotHandle(session->plane(), ns, args->base));
      ASSIGN_OR_RETURN(std::string target, SnapshotHandle(session->plane(), ns, args->target));
      ASSIGN_OR_RETURN(auto metadata, session->plane().csi().GetMetadataDelta(base, target));
      Print(metadata, args->output, "changed");
      return absl::OkStatus();
    };
    Status status = run();
    if (!status.ok()) Fail(status, exit_code);
  });

  CLI::App* allocated = snapshot->add_subcommand(
      "allocated", "Byte ranges holding data in a VolumeSnapshot (GetMetadataAllocated)");
  allocated->add_option("name", args->base, "the VolumeSnapshot")->required();
  allocated->add_option("-n,--namespace", args->ns, "Namespace (default: default)");
  allocated->add_option("-o,--output", args->output, "table|json")
      ->check(CLI::IsMember({"table", "json"}));
  allocated->callback([flags, args, exit_code] {
    std::string ns = args->ns.empty() ? "default" : args->ns;
    auto run = [&]() -> Status {
      ASSIGN_OR_RETURN(auto session, Session::Open(*flags));
      RETURN_IF_ERROR(session->plane().Reconcile());  // controllers run inside each command
      ASSIGN_OR_RETURN(std::string id, SnapshotHandle(session->plane(), ns, args->base));
      ASSIGN_OR_RETURN(auto metadata, session->plane().csi().GetMetadataAllocated(id));
      Print(metadata, args->output, "allocated");
      return absl::OkStatus();
    };
    Status status = run();
    if (!status.ok()) Fail(status, exit_code);
  });
}

}  // namespace ditto::cli
