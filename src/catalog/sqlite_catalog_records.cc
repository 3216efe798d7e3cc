// SqliteCatalog: the controller's records: volumes, snapshots and volume
// group snapshots.
#include <fmt/format.h>

#include <cstdint>

#include <nlohmann/json.hpp>

#include "catalog/sqlite_catalog.h"
#include "catalog/sqlite_rows.h"

namespace ditto::catalog {

using internal::BindSnapshot;
using internal::BindVolume;
using internal::FirstOf;
using internal::ReadSnapshot;
using internal::ReadVolume;
using internal::RunRecordWrite;
using internal::kSnapshotColumns;
using internal::kVolumeColumns;

namespace {

// Runs a page query whose ?1, ?2 are the position to list after, ?3 the
// limit and ?4 (when `arg4` is given) a filter.
template <typename Record>
StatusOr<std::vector<Record>> ReadPage(Db& db, const std::string& sql,
                                       const std::optional<ListPosition>& after, int64_t limit,
                                       const std::string* arg4,
                                       StatusOr<Record> (*read)(const Statement&)) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, sql.c_str()));
  // Nothing sorts before (INT64_MIN, ""): the first page.
  stmt.Bind(1, after ? after->created_at_ns : INT64_MIN);
  stmt.Bind(2, after ? after->id : std::string());
  stmt.Bind(3, limit > 0 ? limit : int64_t{-1});
  if (arg4 != nullptr) stmt.Bind(4, *arg4);
  return internal::ReadAllRows(stmt, read);
}

StatusOr<std::vector<std::string>> ReadIds(Db& db, const char* sql) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, sql));
  std::vector<std::string> ids;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ids.push_back(stmt.Text(0));
  }
  return ids;
}

}  // namespace

Status SqliteCatalog::InsertVolume(const VolumeRecord& record) {
  return Write([&](Db& db) -> Status {
    ASSIGN_OR_RETURN(Statement stmt,
                     Statement::Prepare(db, fmt::format("INSERT INTO volumes ({}) VALUES "
                                                        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                                                        "?10, ?11, ?12, ?13, ?14)",
                                                        kVolumeColumns)
                                                .c_str()));
    RETURN_IF_ERROR(BindVolume(stmt, record));
    return RunRecordWrite(db, stmt, "volume", record.id, record.name, /*is_update=*/false);
  });
}

Status SqliteCatalog::UpdateVolume(const VolumeRecord& record) {
  return Write([&](Db& db) -> Status {
    ASSIGN_OR_RETURN(Statement stmt,
                     Statement::Prepare(db,
                                        "UPDATE volumes SET name = ?2, capacity = ?3, "
                                        "target_capacity = ?4, mode_hint = ?5, fs_type = ?6, "
                                        "parameters = ?7, source_kind = ?8, source_id = ?9, "
                                        "clone_method = ?10, thick = ?11, state = ?12, "
                                        "created_at = ?13, updated_at = ?14 WHERE id = ?1"));
    RETURN_IF_ERROR(BindVolume(stmt, record));
    return RunRecordWrite(db, stmt, "volume", record.id, record.name, /*is_update=*/true);
  });
}

Status SqliteCatalog::DeleteVolume(const std::string& id) {
  return WriteStatement("DELETE FROM volumes WHERE id = ?1", {id});
}

StatusOr<std::optional<VolumeRecord>> SqliteCatalog::FindVolume(const std::string& id) {
  return FirstOf(Query<VolumeRecord>(
      fmt::format("SELECT {} FROM volumes WHERE id = ?1", kVolumeColumns), &id, &ReadVolume));
}

StatusOr<std::optional<VolumeRecord>> SqliteCatalog::FindVolumeByName(const std::string& name) {
  return FirstOf(Query<VolumeRecord>(
      fmt::format("SELECT {} FROM volumes WHERE name = ?1", kVolumeColumns), &name, &ReadVolume));
}

StatusOr<std::vector<VolumeRecord>> SqliteCatalog::ListVolumes() {
  return Query<VolumeRecord>(
      fmt::format("SELECT {} FROM volumes ORDER BY created_at, id", kVolumeColumns), nullptr,
      &ReadVolume);
}

StatusOr<int64_t> SqliteCatalog::ProvisionedBytes() {
  ASSIGN_OR_RETURN(Counts counts, CountRecords());
  return counts.provisioned_bytes;
}

StatusOr<Catalog::Counts> SqliteCatalog::CountRecords() {
  return Read([&](Db& db) -> StatusOr<Counts> {
    ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, "SELECT name, value FROM counters"));
    Counts counts;
    while (true) {
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      std::string name = stmt.Text(0);
      if (name == "volumes") counts.volumes = stmt.Int(1);
      else if (name == "snapshots") counts.snapshots = stmt.Int(1);
      else if (name == "provisioned_bytes") counts.provisioned_bytes = stmt.Int(1);
    }
    return counts;
  });
}

StatusOr<std::vector<VolumeRecord>> SqliteCatalog::ListVolumesAfter(
    const std::optional<ListPosition>& after, int64_t limit) {
  // The row value comparison seeks in volumes_by_creation; LIMIT stops there.
  return Read([&](Db& db) {
    return ReadPage<VolumeRecord>(
        db,
        fmt::format("SELECT {} FROM volumes WHERE state IN ('ready', 'expanding') AND "
                    "(created_at, id) > (?1, ?2) ORDER BY created_at, id LIMIT ?3",
                    kVolumeColumns),
        after, limit, nullptr, &ReadVolume);
  });
}

StatusOr<std::vector<VolumeRecord>> SqliteCatalog::ListThickVolumes() {
  return Query<VolumeRecord>(
      fmt::format("SELECT {} FROM volumes WHERE thick = 1 ORDER BY created_at, id",
                  kVolumeColumns),
      nullptr, &ReadVolume);
}

StatusOr<std::vector<std::string>> SqliteCatalog::ListVolumeIds() {
  return Read([&](Db& db) { return ReadIds(db, "SELECT id FROM volumes"); });
}

StatusOr<std::vector<VolumeRecord>> SqliteCatalog::ListUnsettledVolumes() {
  return Query<VolumeRecord>(
      fmt::format("SELECT {} FROM volumes WHERE state != 'ready' ORDER BY created_at, id",
                  kVolumeColumns),
      nullptr, &ReadVolume);
}

// ---- Snapshots ----

Status SqliteCatalog::InsertSnapshot(const SnapshotRecord& record) {
  return Write([&](Db& db) -> Status {
    ASSIGN_OR_RETURN(
        Statement stmt,
        Statement::Prepare(
            db, fmt::format("INSERT INTO snapshots ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                            kSnapshotColumns)
                    .c_str()));
    BindSnapshot(stmt, record);
    return RunRecordWrite(db, stmt, "snapshot", record.id, record.name, /*is_update=*/false);
  });
}

Status SqliteCatalog::UpdateSnapshot(const SnapshotRecord& record) {
  return Write([&](Db& db) -> Status {
    ASSIGN_OR_RETURN(Statement stmt,
                     Statement::Prepare(db,
                                        "UPDATE snapshots SET name = ?2, source_volume_id = ?3, "
                                        "size = ?4, ready = ?5, clone_method = ?6, state = ?7, "
                                        "created_at = ?8, origin_id = ?9 WHERE id = ?1"));
    BindSnapshot(stmt, record);
    return RunRecordWrite(db, stmt, "snapshot", record.id, record.name, /*is_update=*/true);
  });
}

Status SqliteCatalog::DeleteSnapshot(const std::string& id) {
  return WriteStatement("DELETE FROM snapshots WHERE id = ?1", {id});
}

StatusOr<std::optional<SnapshotRecord>> SqliteCatalog::FindSnapshot(const std::string& id) {
  return FirstOf(Query<SnapshotRecord>(
      fmt::format("SELECT {} FROM snapshots WHERE id = ?1", kSnapshotColumns), &id,
      &ReadSnapshot));
}

StatusOr<std::optional<SnapshotRecord>> SqliteCatalog::FindSnapshotByName(const std::string& name) {
  return FirstOf(Query<SnapshotRecord>(
      fmt::format("SELECT {} FROM snapshots WHERE name = ?1", kSnapshotColumns), &name,
      &ReadSnapshot));
}

StatusOr<std::vector<SnapshotRecord>> SqliteCatalog::ListSnapshots() {
  return Query<SnapshotRecord>(
      fmt::format("SELECT {} FROM snapshots ORDER BY created_at, id", kSnapshotColumns), nullptr,
      &ReadSnapshot);
}

StatusOr<std::vector<SnapshotRecord>> SqliteCatalog::ListSnapshotsAfter(
    const std::optional<ListPosition>& after, int64_t limit, const std::string& source_volume_id) {
  return Read([&](Db& db) {
    // By source: snapshots_by_source has the source's rows in page order.
    return ReadPage<SnapshotRecord>(
        db,
        fmt::format("SELECT {} FROM snapshots WHERE state = 'ready' AND (created_at, id) > (?1, "
                    "?2){} ORDER BY created_at, id LIMIT ?3",
                    kSnapshotColumns, source_volume_id.empty() ? "" : " AND source_volume_id = ?4"),
        after, limit, source_volume_id.empty() ? nullptr : &source_volume_id, &ReadSnapshot);
  });
}

StatusOr<std::vector<std::string>> SqliteCatalog::ListSnapshotIds() {
  return Read([&](Db& db) { return ReadIds(db, "SELECT id FROM snapshots"); });
}

StatusOr<std::vector<SnapshotRecord>> SqliteCatalog::ListCopiedSnapshots() {
  return Query<SnapshotRecord>(
      fmt::format("SELECT {} FROM snapshots WHERE origin_id != '' AND state = 'ready' "
                  "ORDER BY created_at, id",
                  kSnapshotColumns),
      nullptr, &ReadSnapshot);
}

StatusOr<std::vector<SnapshotRecord>> SqliteCatalog::ListUnsettledSnapshots() {
  return Query<SnapshotRecord>(
      fmt::format("SELECT {} FROM snapshots WHERE state != 'ready' ORDER BY created_at, id",
                  kSnapshotColumns),
      nullptr, &ReadSnapshot);
}

// ---- Volume group snapshots ----

namespace {

constexpr char kGroupColumns[] = "id, name, snapshot_ids, created_at";

StatusOr<GroupSnapshotRecord> ReadGroupSnapshot(const Statement& s) {
  GroupSnapshotRecord r;
  r.id = s.Text(0);
  r.name = s.Text(1);
  try {
    r.snapshot_ids = nlohmann::json::parse(s.Text(2)).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(fmt::format(
        "catalog: the members of group snapshot \"{}\" are unreadable ({}); the catalog is "
        "damaged, restore it from a backup",
        r.id, e.what()));
  }
  r.created_at_ns = s.Int(3);
  return r;
}

}  // namespace

Status SqliteCatalog::InsertGroupSnapshot(const GroupSnapshotRecord& group,
                                          const std::vector<SnapshotRecord>& members) {
  return Write([&](Db& db) -> Status {
    for (const SnapshotRecord& member : members) {
      ASSIGN_OR_RETURN(
          Statement stmt,
          Statement::Prepare(
              db, fmt::format("INSERT INTO snapshots ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                              kSnapshotColumns)
                      .c_str()));
      BindSnapshot(stmt, member);
      RETURN_IF_ERROR(
          RunRecordWrite(db, stmt, "snapshot", member.id, member.name, /*is_update=*/false));
    }
    ASSIGN_OR_RETURN(Statement stmt,
                     Statement::Prepare(db, fmt::format("INSERT INTO group_snapshots ({}) VALUES "
                                                        "(?1, ?2, ?3, ?4)",
                                                        kGroupColumns)
                                                .c_str()));
    stmt.Bind(1, group.id)
        .Bind(2, group.name)
        .Bind(3, nlohmann::json(group.snapshot_ids).dump())
        .Bind(4, group.created_at_ns);
    return RunRecordWrite(db, stmt, "group snapshot", group.id, group.name, /*is_update=*/false);
  });
}

Status SqliteCatalog::DeleteGroupSnapshot(const std::string& id) {
  ASSIGN_OR_RETURN(auto group, FindGroupSnapshot(id));
  if (!group) return absl::OkStatus();
  return Write([&](Db& db) -> Status {
    for (const std::string& member : group->snapshot_ids) {
      ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db, "DELETE FROM snapshots WHERE id = ?1"));
      stmt.Bind(1, member);
      RETURN_IF_ERROR(stmt.Run().status());
    }
    ASSIGN_OR_RETURN(Statement stmt,
                     Statement::Prepare(db, "DELETE FROM group_snapshots WHERE id = ?1"));
    stmt.Bind(1, id);
    return stmt.Run().status();
  });
}

StatusOr<std::optional<GroupSnapshotRecord>> SqliteCatalog::FindGroupSnapshot(
    const std::string& id) {
  return FirstOf(Query<GroupSnapshotRecord>(
      fmt::format("SELECT {} FROM group_snapshots WHERE id = ?1", kGroupColumns), &id,
      &ReadGroupSnapshot));
}

StatusOr<std::optional<GroupSnapshotRecord>> SqliteCatalog::FindGroupSnapshotByName(
    const std::string& name) {
  return FirstOf(Query<GroupSnapshotRecord>(
      fmt::format("SELECT {} FROM group_snapshots WHERE name = ?1", kGroupColumns), &name,
      &ReadGroupSnapshot));
}

StatusOr<std::vector<GroupSnapshotRecord>> SqliteCatalog::ListGroupSnapshots() {
  return Query<GroupSnapshotRecord>(
      fmt::format("SELECT {} FROM group_snapshots ORDER BY created_at, id", kGroupColumns),
      nullptr, &ReadGroupSnapshot);
}

}  // namespace ditto::catalog
