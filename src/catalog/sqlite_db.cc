#include "catalog/sqlite_db.h"

#include <fmt/format.h>

#include <filesystem>
#include <utility>

namespace ditto::catalog {
namespace {

// SQL text short enough for an error message.
std::string Abbreviate(std::string_view sql) {
  constexpr size_t kMax = 60;
  while (!sql.empty() && (sql.front() == '\n' || sql.front() == ' ')) sql.remove_prefix(1);
  if (sql.size() <= kMax) return std::string(sql);
  return std::string(sql.substr(0, kMax)) + "...";
}

}  // namespace

StatusOr<std::unique_ptr<Db>> Db::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  // sqlite3_open_v2 hands back a handle even on failure; it must be closed.
  std::unique_ptr<Db> db(new Db(raw, path));
  if (raw == nullptr) {
    return absl::ResourceExhaustedError(fmt::format("cannot open catalog {}: out of memory", path));
  }
  if (rc != SQLITE_OK) {
    if ((rc & 0xff) == SQLITE_CANTOPEN) {
      // Only on this error path: tell a missing directory apart from others.
      std::error_code ec;
      std::filesystem::path dir = std::filesystem::path(path).parent_path();
      if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
        return absl::NotFoundError(
            fmt::format("cannot open catalog {}: directory {} does not exist; create the pool "
                        "first (dittoctl pool init) or check the path",
                        path, dir.string()));
      }
    }
    return db->Error(rc, "open the catalog");
  }
  sqlite3_extended_result_codes(raw, 1);
  if (path != ":memory:") {
    // Owner-only, like the directories around it. SQLite creates its -wal and
    // -shm files with the database's mode, so setting it here covers them;
    // files of an older catalog are tightened as well.
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code ec;
      std::filesystem::path file(path + suffix);
      if (!std::filesystem::exists(file, ec)) continue;
      std::filesystem::permissions(
          file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
          std::filesystem::perm_options::replace, ec);
      if (ec) {
        return absl::PermissionDeniedError(fmt::format(
            "cannot make {} owner-only: {}; check who owns the catalog", file.string(),
            ec.message()));
      }
    }
  }
  return db;
}

Db::~Db() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status Db::Exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, fmt::format("run \"{}\"", Abbreviate(sql)));
  return absl::OkStatus();
}

Status Db::Error(int rc, std::string_view doing) const {
  std::string detail = fmt::format("{} (sqlite: {}, code {})", sqlite3_errstr(rc),
                                   db_ != nullptr ? sqlite3_errmsg(db_) : "no connection", rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(fmt::format(
          "catalog {} is locked by another process; retry ({}: {})", path_, doing, detail));
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(
          fmt::format("catalog {}: disk is full; free space in the pool and retry ({}: {})", path_,
                      doing, detail));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(fmt::format(
          "catalog {} is corrupt or is not a SQLite database ({}: {}); stop ditto, move the "
          "file aside and restore it from a backup",
          path_, doing, detail));
    case SQLITE_CONSTRAINT:
      // Only key collisions mean "already exists"; other constraints are bugs.
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(fmt::format("catalog {}: {}: {}", path_, doing, detail));
      }
      break;
    default:
      break;
  }
  return absl::InternalError(fmt::format("catalog {}: {} failed: {}", path_, doing, detail));
}

StatusOr<Statement> Statement::Prepare(Db& db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(), sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return db.Error(rc, fmt::format("prepare \"{}\"", Abbreviate(sql)));
  }
  return Statement(&db, stmt);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement& Statement::Bind(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

StatusOr<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) return db_->Error(bind_rc_, "bind a parameter");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, fmt::format("run \"{}\"", Abbreviate(sqlite3_sql(stmt_))));
}

StatusOr<int> Statement::Run() {
  ASSIGN_OR_RETURN(bool row, Step());
  (void)row;
  return sqlite3_changes(db_->handle());
}

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column));
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

StatusOr<std::unique_ptr<Transaction>> Transaction::Begin(Db& db) {
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return std::unique_ptr<Transaction>(new Transaction(&db));
}

Transaction::~Transaction() {
  if (!done_) (void)db_->Exec("ROLLBACK");
}

Status Transaction::Commit() {
  RETURN_IF_ERROR(db_->Exec("COMMIT"));
  done_ = true;
  return absl::OkStatus();
}

}  // namespace ditto::catalog
