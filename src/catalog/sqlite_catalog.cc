#include "catalog/sqlite_catalog.h"

#include <fmt/format.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <utility>

namespace ditto::catalog {
namespace {

// Schema migrations: kMigrations[v] takes a catalog from version v to v + 1.
// Append new steps; never edit a released one.
const char* const kMigrations[] = {
    // 0 -> 1: the first schema. snapshots.source_volume_id is deliberately not
    // a foreign key: deleting a volume never touches its snapshots.
    R"sql(
CREATE TABLE volumes (
  id              TEXT PRIMARY KEY NOT NULL,
  name            TEXT NOT NULL UNIQUE,
  capacity        INTEGER NOT NULL,
  target_capacity INTEGER NOT NULL,
  mode_hint       TEXT NOT NULL,
  fs_type         TEXT NOT NULL,
  parameters      TEXT NOT NULL,
  source_kind     TEXT NOT NULL,
  source_id       TEXT NOT NULL,
  clone_method    TEXT NOT NULL,
  thick           INTEGER NOT NULL,
  state           TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX volumes_by_creation ON volumes (created_at, id);
CREATE TABLE snapshots (
  id               TEXT PRIMARY KEY NOT NULL,
  name             TEXT NOT NULL UNIQUE,
  source_volume_id TEXT NOT NULL,
  size             INTEGER NOT NULL,
  ready            INTEGER NOT NULL,
  clone_method     TEXT NOT NULL,
  state            TEXT NOT NULL,
  created_at       INTEGER NOT NULL
);
CREATE INDEX snapshots_by_creation ON snapshots (created_at, id);
CREATE TABLE stages (
  volume_id    TEXT PRIMARY KEY NOT NULL,
  staging_path TEXT NOT NULL,
  device       TEXT NOT NULL,
  block        INTEGER NOT NULL,
  fs_type      TEXT NOT NULL,
  mount_flags  TEXT NOT NULL,
  access_mode  TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE TABLE publishes (
  volume_id   TEXT NOT NULL,
  target_path TEXT NOT NULL,
  read_only   INTEGER NOT NULL,
  block       INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (volume_id, target_path)
);
CREATE TABLE settings (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
)sql",
    // 1 -> 2: volume group snapshots; members are rows of snapshots, listed
    // here as a JSON array of IDs.
    R"sql(
CREATE TABLE group_snapshots (
  id           TEXT PRIMARY KEY NOT NULL,
  name         TEXT NOT NULL UNIQUE,
  snapshot_ids TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

StatusOr<int> SchemaVersion(Db& db) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, "PRAGMA user_version"));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? static_cast<int>(stmt.Int(0)) : 0;
}

// Brings the schema to kSchemaVersion in one transaction, so concurrent
// openers migrate exactly once and a crash leaves the old version intact.
Status Migrate(Db& db) {
  ASSIGN_OR_RETURN(auto txn, Transaction::Begin(db));
  ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(fmt::format(
        "catalog {} has schema version {}, newer than the {} this ditto understands; upgrade "
        "ditto",
        db.path(), version, kSchemaVersion));
  }
  if (version == kSchemaVersion) return absl::OkStatus();
  for (int v = version; v < kSchemaVersion; ++v) RETURN_IF_ERROR(db.Exec(kMigrations[v]));
  // PRAGMA takes no bound parameters; the value is our own integer constant.
  RETURN_IF_ERROR(db.Exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str()));
  return txn->Commit();
}

Status SetJournalModeWal(Db& db) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, "PRAGMA journal_mode = WAL"));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  std::string mode = row ? stmt.Text(0) : "";
  // An in-memory database has no journal file and reports "memory".
  if (mode != "wal" && db.path() != ":memory:") {
    return absl::FailedPreconditionError(fmt::format(
        "catalog {}: cannot enable write-ahead logging (journal mode is \"{}\"); put the pool "
        "on a local filesystem that supports shared memory mappings",
        db.path(), mode));
  }
  return absl::OkStatus();
}

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

constexpr char kVolumeColumns[] =
    "id, name, capacity, target_capacity, mode_hint, fs_type, parameters, source_kind, "
    "source_id, clone_method, thick, state, created_at, updated_at";

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

constexpr char kSnapshotColumns[] =
    "id, name, source_volume_id, size, ready, clone_method, state, created_at";

void BindSnapshot(Statement& stmt, const SnapshotRecord& r) {
  stmt.Bind(1, r.id)
      .Bind(2, r.name)
      .Bind(3, r.source_volume_id)
      .Bind(4, r.size_bytes)
      .Bind(5, r.ready_to_use)
      .Bind(6, r.clone_method)
      .Bind(7, StateName(r.state))
      .Bind(8, r.created_at_ns);
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
  return r;
}

constexpr char kStageColumns[] =
    "volume_id, staging_path, device, block, fs_type, mount_flags, access_mode, created_at";

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

constexpr char kPublishColumns[] = "volume_id, target_path, read_only, block, created_at";

StatusOr<PublishRecord> ReadPublish(const Statement& s) {
  PublishRecord r;
  r.volume_id = s.Text(0);
  r.target_path = s.Text(1);
  r.read_only = s.Bool(2);
  r.block = s.Bool(3);
  r.created_at_ns = s.Int(4);
  return r;
}

// Runs `sql` with an optional single parameter and reads every row.
template <typename Record>
StatusOr<std::vector<Record>> QueryRows(Db& db, const std::string& sql, const std::string* arg,
                                    StatusOr<Record> (*read)(const Statement&)) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, sql.c_str()));
  if (arg != nullptr) stmt.Bind(1, *arg);
  std::vector<Record> records;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(Record record, read(stmt));
    records.push_back(std::move(record));
  }
  return records;
}

template <typename Record>
StatusOr<std::optional<Record>> FirstOf(StatusOr<std::vector<Record>> records) {
  if (!records.ok()) return records.status();
  if (records->empty()) return std::optional<Record>();
  return std::optional<Record>(std::move(records->front()));
}

}  // namespace

StatusOr<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path) {
  ASSIGN_OR_RETURN(auto catalog, SqliteCatalog::Open(path));
  return std::unique_ptr<Catalog>(std::move(catalog));
}

StatusOr<std::unique_ptr<SqliteCatalog>> SqliteCatalog::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<Db> writer, Db::Open(path));
  // The busy timeout first: the pragmas below may already wait for a lock.
  RETURN_IF_ERROR(writer->Exec("PRAGMA busy_timeout = 10000"));
  RETURN_IF_ERROR(SetJournalModeWal(*writer));
  RETURN_IF_ERROR(writer->Exec("PRAGMA synchronous = FULL"));
  RETURN_IF_ERROR(writer->Exec("PRAGMA foreign_keys = ON"));
  RETURN_IF_ERROR(Migrate(*writer));
  // A second connection for reads, so that a lookup never waits for the WAL
  // flush of a commit in flight. An in-memory catalog is private to its one
  // connection, so it reads through the writer.
  std::unique_ptr<Db> reader;
  if (path != ":memory:") {
    ASSIGN_OR_RETURN(reader, Db::Open(path));
    RETURN_IF_ERROR(reader->Exec("PRAGMA busy_timeout = 10000"));
    RETURN_IF_ERROR(reader->Exec("PRAGMA query_only = 1"));
  }
  return std::unique_ptr<SqliteCatalog>(new SqliteCatalog(std::move(writer), std::move(reader)));
}

// ---- Group commit ----

Status SqliteCatalog::Write(std::function<Status(Db&)> write) {
  PendingWrite pending{std::move(write)};
  std::unique_lock lock(queue_mu_);
  queue_.push_back(&pending);
  while (!pending.done) {
    if (committing_) {
      queue_cv_.wait(lock);
      continue;
    }
    // Lead: commit everything queued so far, this write included.
    committing_ = true;
    std::vector<PendingWrite*> batch;
    batch.swap(queue_);
    lock.unlock();
    RunBatch(batch);
    lock.lock();
    committing_ = false;
    for (PendingWrite* done : batch) done->done = true;
    queue_cv_.notify_all();
  }
  return pending.status;
}

void SqliteCatalog::RunBatch(const std::vector<PendingWrite*>& batch) {
  std::lock_guard lock(writer_mu_);
  auto fail_all = [&](const Status& status) {
    for (PendingWrite* pending : batch) {
      if (pending->status.ok()) pending->status = status;
    }
  };
  auto txn = Transaction::Begin(*writer_);
  if (!txn.ok()) return fail_all(txn.status());
  for (PendingWrite* pending : batch) {
    Status savepoint = writer_->Exec("SAVEPOINT one_write");
    if (!savepoint.ok()) return fail_all(savepoint);
    pending->status = pending->write(*writer_);
    if (sqlite3_get_autocommit(writer_->handle()) != 0) {
      // SQLite rolled the whole transaction back (disk full, I/O error):
      // every write of the batch is undone.
      return fail_all(absl::UnavailableError(fmt::format(
          "catalog {}: a write failed and SQLite rolled back its transaction; retry",
          writer_->path())));
    }
    if (!pending->status.ok()) {
      Status undone = writer_->Exec("ROLLBACK TO one_write");
      if (!undone.ok()) return fail_all(undone);
    }
    Status released = writer_->Exec("RELEASE one_write");
    if (!released.ok()) return fail_all(released);
  }
  fail_all((*txn)->Commit());
}

template <typename Fn>
auto SqliteCatalog::Read(Fn&& read) -> decltype(read(std::declval<Db&>())) {
  if (reader_ != nullptr) {
    std::lock_guard lock(reader_mu_);
    return read(*reader_);
  }
  std::lock_guard lock(writer_mu_);
  return read(*writer_);
}

// ---- Volumes ----

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
  return Read([&](Db& db) -> StatusOr<int64_t> {
    ASSIGN_OR_RETURN(Statement stmt,
                     Statement::Prepare(db,
                                        "SELECT COALESCE(SUM(MAX(capacity, target_capacity)), 0) "
                                        "FROM volumes"));
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row ? stmt.Int(0) : int64_t{0};
  });
}

// ---- Snapshots ----

Status SqliteCatalog::InsertSnapshot(const SnapshotRecord& record) {
  return Write([&](Db& db) -> Status {
    ASSIGN_OR_RETURN(
        Statement stmt,
        Statement::Prepare(
            db, fmt::format("INSERT INTO snapshots ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
                                        "created_at = ?8 WHERE id = ?1"));
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
              db, fmt::format("INSERT INTO snapshots ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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

// ---- Node records ----

Status SqliteCatalog::PutStage(const StageRecord& r) {
  return Write([&](Db& db) -> Status {
    ASSIGN_OR_RETURN(Statement stmt,
                     Statement::Prepare(db, fmt::format("INSERT OR REPLACE INTO stages ({}) VALUES "
                                                        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                                        kStageColumns)
                                                .c_str()));
    stmt.Bind(1, r.volume_id)
        .Bind(2, r.staging_path)
        .Bind(3, r.device)
        .Bind(4, r.block)
        .Bind(5, r.fs_type)
        .Bind(6, r.mount_flags)
        .Bind(7, r.access_mode)
        .Bind(8, r.created_at_ns);
    return stmt.Run().status();
  });
}

Status SqliteCatalog::DeleteStage(const std::string& volume_id) {
  return WriteStatement("DELETE FROM stages WHERE volume_id = ?1", {volume_id});
}

StatusOr<std::optional<StageRecord>> SqliteCatalog::FindStage(const std::string& volume_id) {
  return FirstOf(Query<StageRecord>(
      fmt::format("SELECT {} FROM stages WHERE volume_id = ?1", kStageColumns), &volume_id,
      &ReadStage));
}

StatusOr<std::vector<StageRecord>> SqliteCatalog::ListStages() {
  return Query<StageRecord>(
      fmt::format("SELECT {} FROM stages ORDER BY created_at, volume_id", kStageColumns), nullptr,
      &ReadStage);
}

Status SqliteCatalog::PutPublish(const PublishRecord& r) {
  return Write([&](Db& db) -> Status {
    ASSIGN_OR_RETURN(
        Statement stmt,
        Statement::Prepare(db, fmt::format("INSERT OR REPLACE INTO publishes ({}) VALUES "
                                           "(?1, ?2, ?3, ?4, ?5)",
                                           kPublishColumns)
                                   .c_str()));
    stmt.Bind(1, r.volume_id)
        .Bind(2, r.target_path)
        .Bind(3, r.read_only)
        .Bind(4, r.block)
        .Bind(5, r.created_at_ns);
    return stmt.Run().status();
  });
}

Status SqliteCatalog::DeletePublish(const std::string& volume_id, const std::string& target_path) {
  return WriteStatement("DELETE FROM publishes WHERE volume_id = ?1 AND target_path = ?2",
                        {volume_id, target_path});
}

StatusOr<std::vector<PublishRecord>> SqliteCatalog::ListPublishes(const std::string& volume_id) {
  return Query<PublishRecord>(fmt::format("SELECT {} FROM publishes WHERE volume_id = ?1 "
                                          "ORDER BY created_at, target_path",
                                          kPublishColumns),
                              &volume_id, &ReadPublish);
}

StatusOr<std::vector<PublishRecord>> SqliteCatalog::ListAllPublishes() {
  return Query<PublishRecord>(fmt::format("SELECT {} FROM publishes "
                                          "ORDER BY created_at, volume_id, target_path",
                                          kPublishColumns),
                              nullptr, &ReadPublish);
}

// ---- Settings ----

Status SqliteCatalog::PutSetting(const std::string& key, const std::string& value) {
  return WriteStatement(
      "INSERT INTO settings (key, value) VALUES (?1, ?2) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      {key, value});
}

StatusOr<std::optional<std::string>> SqliteCatalog::GetSetting(const std::string& key) {
  return Read([&](Db& db) -> StatusOr<std::optional<std::string>> {
    ASSIGN_OR_RETURN(Statement stmt,
                     Statement::Prepare(db, "SELECT value FROM settings WHERE key = ?1"));
    stmt.Bind(1, key);
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(stmt.Text(0));
  });
}

// ---- Helpers ----

template <typename Record>
StatusOr<std::vector<Record>> SqliteCatalog::Query(const std::string& sql, const std::string* arg,
                                                   StatusOr<Record> (*read)(const Statement&)) {
  return Read([&](Db& db) { return QueryRows<Record>(db, sql, arg, read); });
}

Status SqliteCatalog::WriteStatement(const char* sql,
                                     std::initializer_list<std::string_view> args) {
  return Write([&](Db& db) -> Status {
    ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, sql));
    int index = 0;
    for (std::string_view arg : args) stmt.Bind(++index, arg);
    return stmt.Run().status();
  });
}

}  // namespace ditto::catalog
