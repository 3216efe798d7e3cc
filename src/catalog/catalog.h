// The durable record of a pool: volumes, snapshots, node stage/publish
// records and pool settings, in SQLite (WAL, synchronous=FULL) inside the
// pool. Every mutating call is atomic and durable when it returns.
//
// Names are unique per kind. IDs are chosen by the caller (see common/ids.h)
// and are validated by it; the catalog stores them as given.
// Thread-safe: calls are serialised internally. Several processes may open the
// same catalog (SQLite locking, busy timeout).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/records.h"
#include "common/status.h"

namespace ditto::catalog {

class Catalog {
 public:
  // Opens (creating if needed) the catalog database at `path`. ":memory:" gives
  // a private in-memory catalog for tests.
  static StatusOr<std::unique_ptr<Catalog>> Open(const std::string& path);
  virtual ~Catalog() = default;

  // Volumes. Insert fails AlreadyExists if the id or name is taken.
  virtual Status InsertVolume(const VolumeRecord& record) = 0;
  // Replaces every field of the record with this id. NotFound if absent.
  virtual Status UpdateVolume(const VolumeRecord& record) = 0;
  virtual Status DeleteVolume(const std::string& id) = 0;  // OK if absent
  virtual StatusOr<std::optional<VolumeRecord>> FindVolume(const std::string& id) = 0;
  virtual StatusOr<std::optional<VolumeRecord>> FindVolumeByName(const std::string& name) = 0;
  // Ordered by (created_at_ns, id): stable for pagination.
  virtual StatusOr<std::vector<VolumeRecord>> ListVolumes() = 0;
  // Sum over volumes of max(capacity, target capacity): what the pool has
  // promised, for over-commit admission. Constant time (a counter kept in
  // each write's transaction).
  virtual StatusOr<int64_t> ProvisionedBytes() = 0;
  // Rows of each kind and ProvisionedBytes, in constant time.
  struct Counts {
    int64_t volumes = 0;
    int64_t snapshots = 0;
    int64_t provisioned_bytes = 0;
  };
  virtual StatusOr<Counts> CountRecords() = 0;
  // Up to `limit` volumes in ready or expanding state (the ones that exist
  // for callers) that come after `after` in (created_at, id) order, in that
  // order; `limit` <= 0: all of them. Seeks through an index: the cost is
  // the page's, whatever the number of rows.
  virtual StatusOr<std::vector<VolumeRecord>> ListVolumesAfter(
      const std::optional<ListPosition>& after, int64_t limit) = 0;
  // Thick volumes only (through an index: cost by their number).
  virtual StatusOr<std::vector<VolumeRecord>> ListThickVolumes() = 0;
  // Every volume's ID (no other column read).
  virtual StatusOr<std::vector<std::string>> ListVolumeIds() = 0;
  // Volumes in any state but ready (intents for recovery to finish).
  virtual StatusOr<std::vector<VolumeRecord>> ListUnsettledVolumes() = 0;

  // Snapshots, as volumes.
  virtual Status InsertSnapshot(const SnapshotRecord& record) = 0;
  virtual Status UpdateSnapshot(const SnapshotRecord& record) = 0;
  virtual Status DeleteSnapshot(const std::string& id) = 0;
  virtual StatusOr<std::optional<SnapshotRecord>> FindSnapshot(const std::string& id) = 0;
  virtual StatusOr<std::optional<SnapshotRecord>> FindSnapshotByName(const std::string& name) = 0;
  virtual StatusOr<std::vector<SnapshotRecord>> ListSnapshots() = 0;
  // Ready snapshots as ListVolumesAfter; only those of `source_volume_id`
  // when it is not empty.
  virtual StatusOr<std::vector<SnapshotRecord>> ListSnapshotsAfter(
      const std::optional<ListPosition>& after, int64_t limit,
      const std::string& source_volume_id) = 0;
  virtual StatusOr<std::vector<std::string>> ListSnapshotIds() = 0;
  virtual StatusOr<std::vector<SnapshotRecord>> ListUnsettledSnapshots() = 0;
  // Ready snapshots with an origin_id (copies of another node's snapshots),
  // through an index: cost by their number.
  virtual StatusOr<std::vector<SnapshotRecord>> ListCopiedSnapshots() = 0;

  // Volume group snapshots. Insert writes the group row and every member's
  // snapshot row in one transaction (all or nothing); Delete removes the
  // group row and its members' rows in one transaction (OK if absent).
  virtual Status InsertGroupSnapshot(const GroupSnapshotRecord& group,
                                     const std::vector<SnapshotRecord>& members) = 0;
  virtual Status DeleteGroupSnapshot(const std::string& id) = 0;
  virtual StatusOr<std::optional<GroupSnapshotRecord>> FindGroupSnapshot(const std::string& id) = 0;
  virtual StatusOr<std::optional<GroupSnapshotRecord>> FindGroupSnapshotByName(
      const std::string& name) = 0;
  virtual StatusOr<std::vector<GroupSnapshotRecord>> ListGroupSnapshots() = 0;

  // Node records. Put replaces the record with the same key.
  virtual Status PutStage(const StageRecord& record) = 0;  // key: volume_id
  virtual Status DeleteStage(const std::string& volume_id) = 0;
  virtual StatusOr<std::optional<StageRecord>> FindStage(const std::string& volume_id) = 0;
  virtual StatusOr<std::vector<StageRecord>> ListStages() = 0;
  virtual Status PutPublish(const PublishRecord& record) = 0;  // key: (volume_id, target_path)
  virtual Status DeletePublish(const std::string& volume_id, const std::string& target_path) = 0;
  virtual StatusOr<std::vector<PublishRecord>> ListPublishes(const std::string& volume_id) = 0;
  virtual StatusOr<std::vector<PublishRecord>> ListAllPublishes() = 0;

  // Pool settings (key/value), e.g. "overcommit_ratio".
  virtual Status PutSetting(const std::string& key, const std::string& value) = 0;
  virtual StatusOr<std::optional<std::string>> GetSetting(const std::string& key) = 0;
};

}  // namespace ditto::catalog
