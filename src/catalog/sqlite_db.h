// Small RAII wrappers over the SQLite C API: a connection (Db), a prepared
// statement (Statement) and a write transaction (Transaction). Values only ever
// reach SQL through bound parameters.
//
// Not thread-safe: the owner serialises access (see SqliteCatalog).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ditto::catalog {

class Db {
 public:
  // Opens (creating if needed) the database file at `path` (":memory:" for a
  // private in-memory one) with extended result codes on. NotFound if the
  // directory of `path` does not exist.
  static StatusOr<std::unique_ptr<Db>> Open(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs constant SQL (schema, pragmas, BEGIN/COMMIT). Never pass values here.
  Status Exec(const char* sql);

  // The Status for SQLite result code `rc`, saying what was being done:
  // BUSY/LOCKED -> Unavailable, FULL -> ResourceExhausted,
  // CORRUPT/NOTADB -> DataLoss, UNIQUE/PRIMARY KEY constraint -> AlreadyExists,
  // others Internal.
  // Messages include sqlite3_errmsg.
  Status Error(int rc, std::string_view doing) const;

  // The extended result code of the last failed call (e.g.
  // SQLITE_CONSTRAINT_UNIQUE), to tell constraint violations apart.
  int ExtendedErrorCode() const { return sqlite3_extended_errcode(db_); }

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

class Statement {
 public:
  // Prepares constant `sql` (with ?N parameters) on `db`.
  static StatusOr<Statement> Prepare(Db& db, const char* sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;

  // Parameter indexes start at 1, as in SQLite.
  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Statement& Bind(int index, const std::string& value) {
    return Bind(index, std::string_view(value));
  }
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, bool value) { return Bind(index, int64_t{value ? 1 : 0}); }

  // Advances: true with a row available, false when done.
  StatusOr<bool> Step();
  // Steps a statement that returns no rows; the number of rows it changed.
  StatusOr<int> Run();

  // Column indexes start at 0.
  std::string Text(int column) const;
  int64_t Int(int column) const;
  bool Bool(int column) const { return Int(column) != 0; }

 private:
  Statement(Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Db* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;  // first binding error, reported by Step
};

// BEGIN IMMEDIATE on construction (takes the write lock up front, so two
// writers never deadlock on a lock upgrade); rolls back on destruction unless
// Commit() succeeded.
class Transaction {
 public:
  static StatusOr<std::unique_ptr<Transaction>> Begin(Db& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
  bool done_ = false;
};

}  // namespace ditto::catalog
