#include "control/apiserver/store.h"

#include <thread>

#include "common/clock.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

using catalog::Statement;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS objects (
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  uid TEXT NOT NULL,
  resource_version INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  namespace TEXT NOT NULL,
  involved_kind TEXT NOT NULL,
  involved_name TEXT NOT NULL,
  involved_uid TEXT NOT NULL,
  type TEXT NOT NULL,
  reason TEXT NOT NULL,
  message TEXT NOT NULL,
  source TEXT NOT NULL,
  count INTEGER NOT NULL,
  first_ns INTEGER NOT NULL,
  last_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_object ON events (involved_kind, namespace, involved_name);
CREATE TABLE IF NOT EXISTS mounts (
  target_path TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  claim_name TEXT NOT NULL,
  volume_name TEXT NOT NULL,
  volume_handle TEXT NOT NULL,
  staging_path TEXT NOT NULL,
  block INTEGER NOT NULL,
  read_only INTEGER NOT NULL,
  created_ns INTEGER NOT NULL
);
)sql";

// How long a dittoctl waits for another one's transaction.
constexpr int kBusyTimeoutMs = 30000;

StatusOr<Json> ParseBody(const std::string& text) {
  Json object = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    return absl::DataLossError(
        "an object in the state database is not valid JSON; restore the "
        "state directory from a backup or remove it");
  }
  return object;
}

}  // namespace

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<catalog::Db> db, catalog::Db::Open(path));
  sqlite3_busy_timeout(db->handle(), kBusyTimeoutMs);
  RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  {
    ASSIGN_OR_RETURN(auto txn, catalog::Transaction::Begin(*db));
    RETURN_IF_ERROR(db->Exec(kSchema));
    RETURN_IF_ERROR(txn->Commit());
  }
  return std::unique_ptr<Store>(new Store(std::move(db)));
}

Status Store::Transact(const std::function<Status(StoreTxn&)>& body) {
  ASSIGN_OR_RETURN(auto txn, catalog::Transaction::Begin(*db_));
  StoreTxn store_txn(*db_);
  RETURN_IF_ERROR(body(store_txn));
  return txn->Commit();
}

StatusOr<std::optional<Json>> StoreTxn::Get(const std::string& kind, const std::string& ns,
                                            const std::string& name) {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_,
                                      "SELECT body FROM objects WHERE kind = ?1 AND "
                                      "namespace = ?2 AND name = ?3"));
  stmt.Bind(1, kind).Bind(2, ns).Bind(3, name);
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<Json>();
  ASSIGN_OR_RETURN(Json object, ParseBody(stmt.Text(0)));
  return std::optional<Json>(std::move(object));
}

StatusOr<std::vector<Json>> StoreTxn::List(const std::string& kind, const std::string& ns,
                                           bool all_namespaces) {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_,
                                      "SELECT body FROM objects WHERE kind = ?1 AND "
                                      "(?3 OR namespace = ?2) ORDER BY namespace, name"));
  stmt.Bind(1, kind).Bind(2, ns).Bind(3, all_namespaces);
  std::vector<Json> objects;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(Json object, ParseBody(stmt.Text(0)));
    objects.push_back(std::move(object));
  }
  return objects;
}

StatusOr<int64_t> StoreTxn::NextResourceVersion() {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_,
                                      "INSERT INTO counters (name, value) VALUES "
                                      "('resourceVersion', 1) ON CONFLICT(name) DO UPDATE "
                                      "SET value = value + 1 RETURNING value"));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError("resourceVersion counter returned no row");
  return stmt.Int(0);
}

Status StoreTxn::Create(Json& object) {
  std::string kind = Kind(object);
  std::string ns = Namespace(object);
  std::string name = Name(object);
  ASSIGN_OR_RETURN(std::optional<Json> existing, Get(kind, ns, name));
  if (existing.has_value()) {
    return absl::AlreadyExistsError(fmt::format("{} \"{}\" already exists", kind, name));
  }
  ASSIGN_OR_RETURN(int64_t version, NextResourceVersion());
  Json& metadata = object["metadata"];
  if (!metadata.contains("uid") || !metadata["uid"].is_string()) metadata["uid"] = NewUid();
  if (!metadata.contains("creationTimestamp") || !metadata["creationTimestamp"].is_string()) {
    metadata["creationTimestamp"] = NowTimestamp();
  }
  metadata["resourceVersion"] = std::to_string(version);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_,
                                      "INSERT INTO objects (kind, namespace, name, uid, "
                                      "resource_version, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  stmt.Bind(1, kind)
      .Bind(2, ns)
      .Bind(3, name)
      .Bind(4, Uid(object))
      .Bind(5, version)
      .Bind(6, object.dump());
  return stmt.Run().status();
}

Status StoreTxn::Update(Json& object) {
  std::string kind = Kind(object);
  std::string ns = Namespace(object);
  std::string name = Name(object);
  ASSIGN_OR_RETURN(std::optional<Json> existing, Get(kind, ns, name));
  if (!existing.has_value()) {
    return absl::NotFoundError(fmt::format("{} \"{}\" not found", kind, name));
  }
  if (ResourceVersion(*existing) != ResourceVersion(object) || Uid(*existing) != Uid(object)) {
    return absl::AbortedError(fmt::format(
        "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply "
        "your changes to the latest version and try again",
        kind, name));
  }
  ASSIGN_OR_RETURN(int64_t version, NextResourceVersion());
  object["metadata"]["resourceVersion"] = std::to_string(version);
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_,
                                      "UPDATE objects SET resource_version = ?4, body = ?5 "
                                      "WHERE kind = ?1 AND namespace = ?2 AND name = ?3"));
  stmt.Bind(1, kind).Bind(2, ns).Bind(3, name).Bind(4, version).Bind(5, object.dump());
  return stmt.Run().status();
}

Status StoreTxn::Remove(const std::string& kind, const std::string& ns, const std::string& name) {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_,
                                      "DELETE FROM objects WHERE kind = ?1 AND namespace = "
                                      "?2 AND name = ?3"));
  stmt.Bind(1, kind).Bind(2, ns).Bind(3, name);
  return stmt.Run().status();
}

Status StoreTxn::RecordEvent(const Json& involved, const std::string& type,
                             const std::string& reason, const std::string& message,
                             const std::string& source) {
  int64_t now = NowNanos();
  ASSIGN_OR_RETURN(Statement update,
                   Statement::Prepare(db_,
                                      "UPDATE events SET count = count + 1, last_ns = ?7 "
                                      "WHERE involved_kind = ?1 AND namespace = ?2 AND "
                                      "involved_name = ?3 AND involved_uid = ?4 AND type = "
                                      "?5 AND reason = ?6 AND message = ?8"));
  update.Bind(1, Kind(involved))
      .Bind(2, Namespace(involved))
      .Bind(3, Name(involved))
      .Bind(4, Uid(involved))
      .Bind(5, type)
      .Bind(6, reason)
      .Bind(7, now)
      .Bind(8, message);
  ASSIGN_OR_RETURN(int changed, update.Run());
  if (changed > 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(Statement insert,
                   Statement::Prepare(db_,
                                      "INSERT INTO events (namespace, involved_kind, "
                                      "involved_name, involved_uid, type, reason, message, "
                                      "source, count, first_ns, last_ns) VALUES (?1, ?2, "
                                      "?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)"));
  insert.Bind(1, Namespace(involved))
      .Bind(2, Kind(involved))
      .Bind(3, Name(involved))
      .Bind(4, Uid(involved))
      .Bind(5, type)
      .Bind(6, reason)
      .Bind(7, message)
      .Bind(8, source)
      .Bind(9, now);
  return insert.Run().status();
}

StatusOr<std::vector<EventRecord>> StoreTxn::ListEvents(const std::string& ns, bool all_namespaces,
                                                        const std::string& kind,
                                                        const std::string& name) {
  ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_,
                         "SELECT id, namespace, involved_kind, involved_name, involved_uid, "
                         "type, reason, message, source, count, first_ns, last_ns FROM "
                         "events WHERE (?2 OR namespace = ?1) AND (?3 = '' OR "
                         "involved_kind = ?3) AND (?4 = '' OR involved_name = ?4) ORDER BY "
                         "last_ns, id"));
  stmt.Bind(1, ns).Bind(2, all_namespaces).Bind(3, kind).Bind(4, name);
  std::vector<EventRecord> events;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    EventRecord event;
    event.id = stmt.Int(0);
    event.namespace_name = stmt.Text(1);
    event.involved_kind = stmt.Text(2);
    event.involved_name = stmt.Text(3);
    event.involved_uid = stmt.Text(4);
    event.type = stmt.Text(5);
    event.reason = stmt.Text(6);
    event.message = stmt.Text(7);
    event.source = stmt.Text(8);
    event.count = stmt.Int(9);
    event.first_ns = stmt.Int(10);
    event.last_ns = stmt.Int(11);
    events.push_back(std::move(event));
  }
  return events;
}

Status StoreTxn::RemoveEventsOf(const std::string& kind, const std::string& ns,
                                const std::string& name) {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_,
                                      "DELETE FROM events WHERE involved_kind = ?1 AND "
                                      "namespace = ?2 AND involved_name = ?3"));
  stmt.Bind(1, kind).Bind(2, ns).Bind(3, name);
  return stmt.Run().status();
}

StatusOr<std::optional<std::string>> StoreTxn::GetSetting(const std::string& key) {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_, "SELECT value FROM settings WHERE key = ?1"));
  stmt.Bind(1, key);
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.Text(0));
}

Status StoreTxn::PutSetting(const std::string& key, const std::string& value) {
  ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_, "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)"));
  stmt.Bind(1, key).Bind(2, value);
  return stmt.Run().status();
}

Status StoreTxn::RemoveSetting(const std::string& key) {
  ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db_, "DELETE FROM settings WHERE key = ?1"));
  stmt.Bind(1, key);
  return stmt.Run().status();
}

Status StoreTxn::PutMount(const MountRecord& record) {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_,
                                      "INSERT OR REPLACE INTO mounts (target_path, "
                                      "namespace, claim_name, volume_name, volume_handle, "
                                      "staging_path, block, read_only, created_ns) VALUES "
                                      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  stmt.Bind(1, record.target_path)
      .Bind(2, record.namespace_name)
      .Bind(3, record.claim_name)
      .Bind(4, record.volume_name)
      .Bind(5, record.volume_handle)
      .Bind(6, record.staging_path)
      .Bind(7, record.block)
      .Bind(8, record.read_only)
      .Bind(9, record.created_ns);
  return stmt.Run().status();
}

Status StoreTxn::RemoveMount(const std::string& target_path) {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_, "DELETE FROM mounts WHERE target_path = ?1"));
  stmt.Bind(1, target_path);
  return stmt.Run().status();
}

StatusOr<std::vector<MountRecord>> StoreTxn::ListMounts() {
  ASSIGN_OR_RETURN(Statement stmt,
                   Statement::Prepare(db_,
                                      "SELECT target_path, namespace, claim_name, "
                                      "volume_name, volume_handle, staging_path, block, "
                                      "read_only, created_ns FROM mounts ORDER BY "
                                      "created_ns, target_path"));
  std::vector<MountRecord> mounts;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    MountRecord record;
    record.target_path = stmt.Text(0);
    record.namespace_name = stmt.Text(1);
    record.claim_name = stmt.Text(2);
    record.volume_name = stmt.Text(3);
    record.volume_handle = stmt.Text(4);
    record.staging_path = stmt.Text(5);
    record.block = stmt.Bool(6);
    record.read_only = stmt.Bool(7);
    record.created_ns = stmt.Int(8);
    mounts.push_back(std::move(record));
  }
  return mounts;
}

}  // namespace ditto::control
