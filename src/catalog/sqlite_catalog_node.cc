// SqliteCatalog: the node's records (stages, publishes) and settings.
#include <fmt/format.h>

#include "catalog/sqlite_catalog.h"
#include "catalog/sqlite_rows.h"

namespace ditto::catalog {

using internal::FirstOf;
using internal::ReadPublish;
using internal::ReadStage;
using internal::kPublishColumns;
using internal::kStageColumns;

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

}  // namespace ditto::catalog
