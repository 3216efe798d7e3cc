// The SQLite implementation of Catalog (see catalog.h). Writes go through one
// connection with group commit: writes that arrive while a commit is being
// flushed share the next transaction, so concurrent callers pay for one WAL
// flush together instead of one each. Reads use a second connection and never
// wait for a flush. Other processes coordinate through SQLite's file locks
// with a busy timeout.
#pragma once

#include <memory>
#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "catalog/catalog.h"
#include "catalog/sqlite_db.h"

namespace ditto::catalog {

// The schema this build writes. Open migrates older catalogs step by step and
// refuses newer ones (FailedPrecondition).
inline constexpr int kSchemaVersion = 5;

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
  StatusOr<int64_t> ProvisionedBytes() override;
  StatusOr<Counts> CountRecords() override;
  StatusOr<std::vector<VolumeRecord>> ListVolumesAfter(const std::optional<ListPosition>& after,
                                                      int64_t limit) override;
  StatusOr<std::vector<VolumeRecord>> ListThickVolumes() override;
  StatusOr<std::vector<std::string>> ListVolumeIds() override;
  StatusOr<std::vector<VolumeRecord>> ListUnsettledVolumes() override;

  Status InsertSnapshot(const SnapshotRecord& record) override;
  Status UpdateSnapshot(const SnapshotRecord& record) override;
  Status DeleteSnapshot(const std::string& id) override;
  StatusOr<std::optional<SnapshotRecord>> FindSnapshot(const std::string& id) override;
  StatusOr<std::optional<SnapshotRecord>> FindSnapshotByName(const std::string& name) override;
  StatusOr<std::vector<SnapshotRecord>> ListSnapshots() override;
  StatusOr<std::vector<SnapshotRecord>> ListSnapshotsAfter(
      const std::optional<ListPosition>& after, int64_t limit,
      const std::string& source_volume_id) override;
  StatusOr<std::vector<std::string>> ListSnapshotIds() override;
  StatusOr<std::vector<SnapshotRecord>> ListUnsettledSnapshots() override;
  StatusOr<std::vector<SnapshotRecord>> ListCopiedSnapshots() override;

  Status InsertGroupSnapshot(const GroupSnapshotRecord& group,
                             const std::vector<SnapshotRecord>& members) override;
  Status DeleteGroupSnapshot(const std::string& id) override;
  StatusOr<std::optional<GroupSnapshotRecord>> FindGroupSnapshot(const std::string& id) override;
  StatusOr<std::optional<GroupSnapshotRecord>> FindGroupSnapshotByName(
      const std::string& name) override;
  StatusOr<std::vector<GroupSnapshotRecord>> ListGroupSnapshots() override;

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
  // A write waiting for (or in) a group commit.
  struct PendingWrite {
    std::function<Status(Db&)> write;
    Status status;
    bool done = false;
  };

  SqliteCatalog(std::unique_ptr<Db> writer, std::unique_ptr<Db> reader)
      : writer_(std::move(writer)), reader_(std::move(reader)) {}

  // Runs `write` in a transaction shared with the writes queued meanwhile and
  // returns once that transaction is durable. Each write runs inside its own
  // SAVEPOINT: a failing one is rolled back alone and gets its own error.
  Status Write(std::function<Status(Db&)> write);
  void RunBatch(const std::vector<PendingWrite*>& batch);
  // Runs `read` on the reader connection (the writer for ":memory:").
  template <typename Fn>
  auto Read(Fn&& read) -> decltype(read(std::declval<Db&>()));

  template <typename Record>
  StatusOr<std::vector<Record>> Query(const std::string& sql, const std::string* arg,
                                      StatusOr<Record> (*read)(const Statement&));
  // Writes with constant `sql` whose ?1..?N take `args`.
  Status WriteStatement(const char* sql, std::initializer_list<std::string_view> args);

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<PendingWrite*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool committing_ ABSL_GUARDED_BY(queue_mu_) = false;

  std::mutex writer_mu_;
  std::unique_ptr<Db> writer_ ABSL_GUARDED_BY(writer_mu_);
  std::mutex reader_mu_;
  std::unique_ptr<Db> reader_;  // null for ":memory:"; used under reader_mu_
};

}  // namespace ditto::catalog
