// SqliteCatalog: opening the database (pragmas, schema migrations), group
// commit of concurrent writes, and constant-SQL writes. The record kinds:
// sqlite_catalog_records.cc (volumes, snapshots, group snapshots) and
// sqlite_catalog_node.cc (stages, publishes, settings).
#include "catalog/sqlite_catalog.h"

#include <fmt/format.h>

#include <functional>
#include <utility>

#include "catalog/sqlite_rows.h"

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
    // 2 -> 3: what a pool of 100k volumes needs in constant time. Counters
    // kept by triggers in the writing transaction itself (so they are never
    // out of step with the rows); thick volumes and a volume's snapshots
    // found through indexes instead of a scan of every row.
    R"sql(
CREATE TABLE counters (
  name  TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES
  ('volumes', (SELECT COUNT(*) FROM volumes)),
  ('snapshots', (SELECT COUNT(*) FROM snapshots)),
  ('provisioned_bytes',
   (SELECT COALESCE(SUM(MAX(capacity, target_capacity)), 0) FROM volumes));
CREATE TRIGGER volumes_insert_counted AFTER INSERT ON volumes BEGIN
  UPDATE counters SET value = value + 1 WHERE name = 'volumes';
  UPDATE counters SET value = value + MAX(NEW.capacity, NEW.target_capacity)
    WHERE name = 'provisioned_bytes';
END;
CREATE TRIGGER volumes_delete_counted AFTER DELETE ON volumes BEGIN
  UPDATE counters SET value = value - 1 WHERE name = 'volumes';
  UPDATE counters SET value = value - MAX(OLD.capacity, OLD.target_capacity)
    WHERE name = 'provisioned_bytes';
END;
CREATE TRIGGER volumes_update_counted AFTER UPDATE OF capacity, target_capacity ON volumes BEGIN
  UPDATE counters
    SET value = value - MAX(OLD.capacity, OLD.target_capacity)
                      + MAX(NEW.capacity, NEW.target_capacity)
    WHERE name = 'provisioned_bytes';
END;
CREATE TRIGGER snapshots_insert_counted AFTER INSERT ON snapshots BEGIN
  UPDATE counters SET value = value + 1 WHERE name = 'snapshots';
END;
CREATE TRIGGER snapshots_delete_counted AFTER DELETE ON snapshots BEGIN
  UPDATE counters SET value = value - 1 WHERE name = 'snapshots';
END;
CREATE INDEX volumes_thick ON volumes (created_at, id) WHERE thick = 1;
CREATE INDEX snapshots_by_source ON snapshots (source_volume_id, created_at, id);
)sql",
    // 3 -> 4: where a snapshot's data came from when it is the copy of
    // another node's snapshot (its ID there); '' for every older row.
    R"sql(
ALTER TABLE snapshots ADD COLUMN origin_id TEXT NOT NULL DEFAULT '';
CREATE INDEX snapshots_by_origin ON snapshots (origin_id) WHERE origin_id != '';
)sql",
    // 4 -> 5: the rows an interrupted operation left (what recovery reads
    // when the pool opens) found without reading every row.
    R"sql(
CREATE INDEX volumes_unsettled ON volumes (created_at, id) WHERE state != 'ready';
CREATE INDEX snapshots_unsettled ON snapshots (created_at, id) WHERE state != 'ready';
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
