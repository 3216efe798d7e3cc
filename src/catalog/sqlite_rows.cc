#include "catalog/sqlite_rows.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace ditto::catalog::internal {

// Turns a constraint violation on insert/update into a message naming what is
// taken; other errors pass through.
Status ConflictError(const Db& db, Status status, const char* kind, const std::string& id,
                     const std::string& name) {
  if (status.code() != absl::StatusCode::kAlreadyExists) return status;
  switch (db.ExtendedErrorCode()) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return absl::AlreadyExistsError(
          fmt::format("a {} with id \"{}\" already exists in the catalog", kind, id));
    case SQLITE_CONSTRAINT_UNIQUE:
      return absl::AlreadyExistsError(
          fmt::format("the {} name \"{}\" is already taken by another {}; choose another name",
                      kind, name, kind));
    default:
      return absl::InternalError(fmt::format("{} \"{}\" violates a catalog constraint: {}", kind,
                                             name, std::string(status.message())));
  }
}

// Runs a prepared INSERT or UPDATE of the record `id`: a taken id or name is
// AlreadyExists; an UPDATE that matches no record is NotFound.
Status RunRecordWrite(const Db& db, Statement& stmt, const char* kind, const std::string& id,
                      const std::string& name, bool is_update) {
  auto changed = stmt.Run();
  if (!changed.ok()) return ConflictError(db, changed.status(), kind, id, name);
  if (is_update && *changed == 0) {
    return absl::NotFoundError(
        fmt::format("{} \"{}\" is not in the catalog; it cannot be updated", kind, id));
  }
  return absl::OkStatus();
}

StatusOr<std::string> ParametersToJson(const std::map<std::string, std::string>& parameters) {
  try {
    return nlohmann::json(parameters).dump();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("volume parameters are not valid UTF-8 ({}); fix the storage class", e.what()));
  }
}

StatusOr<std::map<std::string, std::string>> ParametersFromJson(const std::string& text,
                                                                const std::string& id) {
  try {
    return nlohmann::json::parse(text).get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(fmt::format(
        "catalog: parameters of volume \"{}\" are unreadable ({}); the catalog is damaged, "
        "restore it from a backup",
        id, e.what()));
  }
}

StatusOr<State> ReadState(const Statement& stmt, int column, const std::string& id) {
  State state;
  std::string text = stmt.Text(column);
  if (!ParseState(text, &state)) {
    return absl::DataLossError(fmt::format(
        "catalog: record \"{}\" has unknown state \"{}\"; the catalog is damaged or was written "
        "by a newer ditto",
        id, text));
  }
  return state;
}

// Binds ?1..?14 in kVolumeColumns order.
Status BindVolume(Statement& stmt, const VolumeRecord& r) {
  ASSIGN_OR_RETURN(std::string parameters, ParametersToJson(r.parameters));
  stmt.Bind(1, r.id)
      .Bind(2, r.name)
      .Bind(3, r.capacity_bytes)
      .Bind(4, r.target_capacity_bytes)
      .Bind(5, r.mode_hint)
      .Bind(6, r.fs_type)
      .Bind(7, parameters)
      .Bind(8, r.source_kind)
      .Bind(9, r.source_id)
      .Bind(10, r.clone_method)
      .Bind(11, r.thick)
      .Bind(12, StateName(r.state))
      .Bind(13, r.created_at_ns)
      .Bind(14, r.updated_at_ns);
  return absl::OkStatus();
}

StatusOr<VolumeRecord> ReadVolume(const Statement& s) {
  VolumeRecord r;
  r.id = s.Text(0);
  r.name = s.Text(1);
  r.capacity_bytes = s.Int(2);
  r.target_capacity_bytes = s.Int(3);
  r.mode_hint = s.Text(4);
  r.fs_type = s.Text(5);
  ASSIGN_OR_RETURN(r.parameters, ParametersFromJson(s.Text(6), r.id));
  r.source_kind = s.Text(7);
  r.source_id = s.Text(8);
  r.clone_method = s.Text(9);
  r.thick = s.Bool(10);
  ASSIGN_OR_RETURN(r.state, ReadState(s, 11, r.id));
  r.created_at_ns = s.Int(12);
  r.updated_at_ns = s.Int(13);
  return r;
}

void BindSnapshot(Statement& stmt, const SnapshotRecord& r) {
  stmt.Bind(1, r.id)
      .Bind(2, r.name)
      .Bind(3, r.source_volume_id)
      .Bind(4, r.size_bytes)
      .Bind(5, r.ready_to_use)
      .Bind(6, r.clone_method)
      .Bind(7, StateName(r.state))
      .Bind(8, r.created_at_ns)
      .Bind(9, r.origin_id);
}

StatusOr<SnapshotRecord> ReadSnapshot(const Statement& s) {
  SnapshotRecord r;
  r.id = s.Text(0);
  r.name = s.Text(1);
  r.source_volume_id = s.Text(2);
  r.size_bytes = s.Int(3);
  r.ready_to_use = s.Bool(4);
  r.clone_method = s.Text(5);
  ASSIGN_OR_RETURN(r.state, ReadState(s, 6, r.id));
  r.created_at_ns = s.Int(7);
  r.origin_id = s.Text(8);
  return r;
}

StatusOr<StageRecord> ReadStage(const Statement& s) {
  StageRecord r;
  r.volume_id = s.Text(0);
  r.staging_path = s.Text(1);
  r.device = s.Text(2);
  r.block = s.Bool(3);
  r.fs_type = s.Text(4);
  r.mount_flags = s.Text(5);
  r.access_mode = s.Text(6);
  r.created_at_ns = s.Int(7);
  return r;
}

StatusOr<PublishRecord> ReadPublish(const Statement& s) {
  PublishRecord r;
  r.volume_id = s.Text(0);
  r.target_path = s.Text(1);
  r.read_only = s.Bool(2);
  r.block = s.Bool(3);
  r.created_at_ns = s.Int(4);
  return r;
}

}  // namespace ditto::catalog::internal
