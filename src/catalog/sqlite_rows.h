// Internal to the SqliteCatalog translation units (sqlite_catalog*.cc): how
// records become rows and back, the columns each table is read with, and the
// error messages of a failed write.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog/records.h"
#include "catalog/sqlite_catalog.h"
#include "catalog/sqlite_db.h"
#include "common/status.h"

namespace ditto::catalog::internal {

// Turns a constraint violation on insert/update into a message naming what is
// taken; other errors pass through.
Status ConflictError(const Db& db, Status status, const char* kind, const std::string& id,
                     const std::string& name);

// Runs a prepared INSERT or UPDATE of the record `id`: a taken id or name is
// AlreadyExists; an UPDATE that matches no record is NotFound.
Status RunRecordWrite(const Db& db, Statement& stmt, const char* kind, const std::string& id,
                      const std::string& name, bool is_update);

StatusOr<std::string> ParametersToJson(const std::map<std::string, std::string>& parameters);

StatusOr<std::map<std::string, std::string>> ParametersFromJson(const std::string& text,
                                                                const std::string& id);

StatusOr<State> ReadState(const Statement& stmt, int column, const std::string& id);

inline constexpr char kVolumeColumns[] =
    "id, name, capacity, target_capacity, mode_hint, fs_type, parameters, source_kind, "
    "source_id, clone_method, thick, state, created_at, updated_at";

// Binds ?1..?14 in kVolumeColumns order.
Status BindVolume(Statement& stmt, const VolumeRecord& r);

StatusOr<VolumeRecord> ReadVolume(const Statement& s);

inline constexpr char kSnapshotColumns[] =
    "id, name, source_volume_id, size, ready, clone_method, state, created_at, origin_id";

// Binds ?1..?9 in kSnapshotColumns order.
void BindSnapshot(Statement& stmt, const SnapshotRecord& r);

StatusOr<SnapshotRecord> ReadSnapshot(const Statement& s);

inline constexpr char kStageColumns[] =
    "volume_id, staging_path, device, block, fs_type, mount_flags, access_mode, created_at";

StatusOr<StageRecord> ReadStage(const Statement& s);

inline constexpr char kPublishColumns[] = "volume_id, target_path, read_only, block, created_at";

StatusOr<PublishRecord> ReadPublish(const Statement& s);

// Steps a bound statement to its end, reading every row with `read`.
template <typename Record>
StatusOr<std::vector<Record>> ReadAllRows(Statement& stmt,
                                          StatusOr<Record> (*read)(const Statement&)) {
  std::vector<Record> records;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(Record record, read(stmt));
    records.push_back(std::move(record));
  }
  return records;
}

// Runs `sql` with an optional single parameter and reads every row.
template <typename Record>
StatusOr<std::vector<Record>> QueryRows(Db& db, const std::string& sql, const std::string* arg,
                                    StatusOr<Record> (*read)(const Statement&)) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, sql.c_str()));
  if (arg != nullptr) stmt.Bind(1, *arg);
  return ReadAllRows(stmt, read);
}

template <typename Record>
StatusOr<std::optional<Record>> FirstOf(StatusOr<std::vector<Record>> records) {
  if (!records.ok()) return records.status();
  if (records->empty()) return std::optional<Record>();
  return std::optional<Record>(std::move(records->front()));
}

}  // namespace ditto::catalog::internal

namespace ditto::catalog {

template <typename Fn>
auto SqliteCatalog::Read(Fn&& read) -> decltype(read(std::declval<Db&>())) {
  if (reader_ != nullptr) {
    std::lock_guard lock(reader_mu_);
    return read(*reader_);
  }
  std::lock_guard lock(writer_mu_);
  return read(*writer_);
}

template <typename Record>
StatusOr<std::vector<Record>> SqliteCatalog::Query(const std::string& sql, const std::string* arg,
                                                   StatusOr<Record> (*read)(const Statement&)) {
  return Read([&](Db& db) { return internal::QueryRows<Record>(db, sql, arg, read); });
}

}  // namespace ditto::catalog
