// The SQLite implementation of Catalog (see catalog.h). One connection per
// object, serialised by a mutex; other processes coordinate through SQLite's
// file locks with a busy timeout.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "catalog/catalog.h"
#include "catalog/sqlite_db.h"

namespace ditto::catalog {

// The schema this build writes. Open migrates older catalogs step by step and
// refuses newer ones (FailedPrecondition).
inline constexpr int kSchemaVersion = 1;

class SqliteCatalog : public Catalog {
 public:
  // Opens `path`, applies the connection pragmas and migrates the schema.
  static StatusOr<std::unique_ptr<SqliteCatalog>> Open(const std::string& path);

  Status InsertVolume(const VolumeRecord& record) override;
  Status UpdateVolume(const VolumeRecord& record) override;
  Status DeleteVolume(const std::string& id) override;
  StatusOr<std::optional<VolumeRecord>> FindVolume(const std::string& id) override;
  StatusOr<std::optional<VolumeRecord>> FindVolumeByName(const std::string& name) override;
  StatusOr<std::vector<VolumeRecord>> ListVolumes() override;

  Status InsertSnapshot(const SnapshotRecord& record) override;
  Status UpdateSnapshot(const SnapshotRecord& record) override;
  Status DeleteSnapshot(const std::string& id) override;
  StatusOr<std::optional<SnapshotRecord>> FindSnapshot(const std::string& id) override;
  StatusOr<std::optional<SnapshotRecord>> FindSnapshotByName(const std::string& name) override;
  StatusOr<std::vector<SnapshotRecord>> ListSnapshots() override;

  Status PutStage(const StageRecord& record) override;
  Status DeleteStage(const std::string& volume_id) override;
  StatusOr<std::optional<StageRecord>> FindStage(const std::string& volume_id) override;
  StatusOr<std::vector<StageRecord>> ListStages() override;
  Status PutPublish(const PublishRecord& record) override;
  Status DeletePublish(const std::string& volume_id, const std::string& target_path) override;
  StatusOr<std::vector<PublishRecord>> ListPublishes(const std::string& volume_id) override;
  StatusOr<std::vector<PublishRecord>> ListAllPublishes() override;

  Status PutSetting(const std::string& key, const std::string& value) override;
  StatusOr<std::optional<std::string>> GetSetting(const std::string& key) override;

 private:
  explicit SqliteCatalog(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  StatusOr<std::vector<VolumeRecord>> QueryVolumes(const char* sql, const std::string* arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  StatusOr<std::vector<SnapshotRecord>> QuerySnapshots(const char* sql, const std::string* arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  StatusOr<std::vector<StageRecord>> QueryStages(const char* sql, const std::string* arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  StatusOr<std::vector<PublishRecord>> QueryPublishes(const char* sql, const std::string* arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status DeleteByKey(const char* sql, const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::mutex mu_;
  std::unique_ptr<Db> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ditto::catalog
