// What keeps the catalog's cost independent of the number of rows: the
// counters kept by triggers, paging that seeks through an index, the thick
// volume and unsettled-row lists, and the migration of an older catalog.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/records.h"
#include "fmt/format.h"
#include "catalog/sqlite_catalog.h"

namespace ditto::catalog {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

VolumeRecord Volume(const std::string& id, int64_t created, int64_t capacity = 1 << 20) {
  VolumeRecord r;
  r.id = id;
  r.name = "name-" + id;
  r.capacity_bytes = capacity;
  r.state = State::kReady;
  r.created_at_ns = created;
  r.updated_at_ns = created;
  return r;
}

SnapshotRecord Snapshot(const std::string& id, const std::string& source, int64_t created) {
  SnapshotRecord r;
  r.id = id;
  r.name = "name-" + id;
  r.source_volume_id = source;
  r.size_bytes = 4096;
  r.ready_to_use = true;
  r.state = State::kReady;
  r.created_at_ns = created;
  return r;
}

template <typename Record>
std::vector<std::string> Ids(const StatusOr<std::vector<Record>>& records) {
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<std::string> ids;
  if (records.ok()) {
    for (const auto& r : *records) ids.push_back(r.id);
  }
  return ids;
}

class CatalogScaleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ditto-catalog-scale-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/catalog.db";
    auto catalog = Catalog::Open(path_);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = std::move(*catalog);
  }
  void TearDown() override {
    catalog_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Catalog::Counts Counts() {
    auto counts = catalog_->CountRecords();
    EXPECT_TRUE(counts.ok()) << counts.status();
    return counts.ok() ? *counts : Catalog::Counts{};
  }
  // SQLite's plan for `sql`, every line joined.
  std::string Plan(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    std::string explain = "EXPLAIN QUERY PLAN " + sql;
    EXPECT_EQ(sqlite3_prepare_v2(db, explain.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::string plan;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
      plan += "\n";
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return plan;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogScaleTest, CountersFollowInsertsUpdatesAndDeletes) {
  EXPECT_EQ(Counts().volumes, 0);
  ASSERT_TRUE(catalog_->InsertVolume(Volume("vol-a", 1, 10)).ok());
  ASSERT_TRUE(catalog_->InsertVolume(Volume("vol-b", 2, 20)).ok());
  ASSERT_TRUE(catalog_->InsertSnapshot(Snapshot("snap-a", "vol-a", 3)).ok());
  EXPECT_EQ(Counts().volumes, 2);
  EXPECT_EQ(Counts().snapshots, 1);
  EXPECT_EQ(Counts().provisioned_bytes, 30);

  VolumeRecord growing = Volume("vol-b", 2, 20);
  growing.state = State::kExpanding;
  growing.target_capacity_bytes = 50;  // the larger of the two counts
  ASSERT_TRUE(catalog_->UpdateVolume(growing).ok());
  EXPECT_EQ(Counts().provisioned_bytes, 60);
  growing.state = State::kReady;
  growing.capacity_bytes = 50;
  growing.target_capacity_bytes = 0;
  ASSERT_TRUE(catalog_->UpdateVolume(growing).ok());
  EXPECT_EQ(*catalog_->ProvisionedBytes(), 60);

  ASSERT_TRUE(catalog_->DeleteVolume("vol-a").ok());
  ASSERT_TRUE(catalog_->DeleteVolume("vol-a").ok());  // absent: nothing counted twice
  ASSERT_TRUE(catalog_->DeleteSnapshot("snap-a").ok());
  EXPECT_EQ(Counts().volumes, 1);
  EXPECT_EQ(Counts().snapshots, 0);
  EXPECT_EQ(Counts().provisioned_bytes, 50);
}

TEST_F(CatalogScaleTest, AFailedInsertLeavesTheCountersAlone) {
  ASSERT_TRUE(catalog_->InsertVolume(Volume("vol-a", 1, 10)).ok());
  VolumeRecord same_name = Volume("vol-b", 2, 1000);
  same_name.name = "name-vol-a";
  EXPECT_EQ(catalog_->InsertVolume(same_name).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Counts().volumes, 1);
  EXPECT_EQ(Counts().provisioned_bytes, 10);
}

TEST_F(CatalogScaleTest, GroupSnapshotMembersAreCounted) {
  GroupSnapshotRecord group{"group-1", "g", {"snap-1", "snap-2"}, 5};
  ASSERT_TRUE(catalog_
                  ->InsertGroupSnapshot(group, {Snapshot("snap-1", "vol-a", 5),
                                                Snapshot("snap-2", "vol-b", 5)})
                  .ok());
  EXPECT_EQ(Counts().snapshots, 2);
  ASSERT_TRUE(catalog_->DeleteGroupSnapshot("group-1").ok());
  EXPECT_EQ(Counts().snapshots, 0);
}

TEST_F(CatalogScaleTest, PagesResumeAfterThePositionInCreationOrder) {
  // Equal creation times are ordered by ID.
  for (const auto& [id, created] : std::vector<std::pair<std::string, int64_t>>{
           {"vol-e", 30}, {"vol-a", 10}, {"vol-c", 20}, {"vol-b", 20}, {"vol-d", 20}}) {
    ASSERT_TRUE(catalog_->InsertVolume(Volume(id, created)).ok());
  }
  EXPECT_THAT(Ids(catalog_->ListVolumesAfter(std::nullopt, 0)),
              ElementsAre("vol-a", "vol-b", "vol-c", "vol-d", "vol-e"));
  EXPECT_THAT(Ids(catalog_->ListVolumesAfter(std::nullopt, 2)), ElementsAre("vol-a", "vol-b"));
  EXPECT_THAT(Ids(catalog_->ListVolumesAfter(ListPosition{20, "vol-b"}, 2)),
              ElementsAre("vol-c", "vol-d"));
  // A position whose record is gone still resumes behind it.
  ASSERT_TRUE(catalog_->DeleteVolume("vol-c").ok());
  EXPECT_THAT(Ids(catalog_->ListVolumesAfter(ListPosition{20, "vol-c"}, 0)),
              ElementsAre("vol-d", "vol-e"));
  EXPECT_THAT(Ids(catalog_->ListVolumesAfter(ListPosition{30, "vol-e"}, 10)), IsEmpty());
}

TEST_F(CatalogScaleTest, PagesListOnlyVolumesThatExistForCallers) {
  VolumeRecord creating = Volume("vol-a", 1);
  creating.state = State::kCreating;
  VolumeRecord expanding = Volume("vol-b", 2);
  expanding.state = State::kExpanding;
  VolumeRecord deleting = Volume("vol-c", 3);
  deleting.state = State::kDeleting;
  for (const auto& v : {creating, expanding, deleting, Volume("vol-d", 4)}) {
    ASSERT_TRUE(catalog_->InsertVolume(v).ok());
  }
  EXPECT_THAT(Ids(catalog_->ListVolumesAfter(std::nullopt, 0)), ElementsAre("vol-b", "vol-d"));
  EXPECT_THAT(Ids(catalog_->ListUnsettledVolumes()), ElementsAre("vol-a", "vol-b", "vol-c"));
  auto ids = catalog_->ListVolumeIds();
  ASSERT_TRUE(ids.ok());
  std::sort(ids->begin(), ids->end());
  EXPECT_THAT(*ids, ElementsAre("vol-a", "vol-b", "vol-c", "vol-d"));
}

TEST_F(CatalogScaleTest, SnapshotPagesFilterBySource) {
  ASSERT_TRUE(catalog_->InsertSnapshot(Snapshot("snap-a", "vol-1", 1)).ok());
  ASSERT_TRUE(catalog_->InsertSnapshot(Snapshot("snap-b", "vol-2", 2)).ok());
  ASSERT_TRUE(catalog_->InsertSnapshot(Snapshot("snap-c", "vol-1", 3)).ok());
  SnapshotRecord deleting = Snapshot("snap-d", "vol-1", 4);
  deleting.state = State::kDeleting;
  ASSERT_TRUE(catalog_->InsertSnapshot(deleting).ok());
  EXPECT_THAT(Ids(catalog_->ListSnapshotsAfter(std::nullopt, 0, "")),
              ElementsAre("snap-a", "snap-b", "snap-c"));
  EXPECT_THAT(Ids(catalog_->ListSnapshotsAfter(std::nullopt, 0, "vol-1")),
              ElementsAre("snap-a", "snap-c"));
  EXPECT_THAT(Ids(catalog_->ListSnapshotsAfter(ListPosition{1, "snap-a"}, 1, "vol-1")),
              ElementsAre("snap-c"));
  EXPECT_THAT(Ids(catalog_->ListUnsettledSnapshots()), ElementsAre("snap-d"));
}

TEST_F(CatalogScaleTest, ThickVolumesAreListedAlone) {
  VolumeRecord thick = Volume("vol-b", 2);
  thick.thick = true;
  ASSERT_TRUE(catalog_->InsertVolume(Volume("vol-a", 1)).ok());
  ASSERT_TRUE(catalog_->InsertVolume(thick).ok());
  EXPECT_THAT(Ids(catalog_->ListThickVolumes()), ElementsAre("vol-b"));
  thick.thick = false;
  ASSERT_TRUE(catalog_->UpdateVolume(thick).ok());
  EXPECT_THAT(Ids(catalog_->ListThickVolumes()), IsEmpty());
}

// The page and thick-volume queries seek through indexes rather than scan
// and sort every row: what keeps their cost independent of the pool's size.
TEST_F(CatalogScaleTest, PageQueriesSeekThroughIndexes) {
  std::string volumes = Plan(
      "SELECT id FROM volumes WHERE state IN ('ready', 'expanding') AND (created_at, id) > (1, "
      "'x') ORDER BY created_at, id LIMIT 5");
  EXPECT_THAT(volumes, HasSubstr("SEARCH volumes USING INDEX volumes_by_creation"));
  EXPECT_THAT(volumes, ::testing::Not(HasSubstr("TEMP B-TREE")));
  std::string by_source = Plan(
      "SELECT id FROM snapshots WHERE state = 'ready' AND (created_at, id) > (1, 'x') AND "
      "source_volume_id = 'v' ORDER BY created_at, id LIMIT 5");
  EXPECT_THAT(by_source, HasSubstr("USING INDEX snapshots_by_source"));
  EXPECT_THAT(by_source, ::testing::Not(HasSubstr("TEMP B-TREE")));
  EXPECT_THAT(Plan("SELECT id FROM volumes WHERE thick = 1 ORDER BY created_at, id"),
              HasSubstr("USING INDEX volumes_thick"));
  // Recovery's queries when the pool opens.
  for (const char* table : {"volumes", "snapshots"}) {
    std::string unsettled = Plan(fmt::format(
        "SELECT id FROM {} WHERE state != 'ready' ORDER BY created_at, id", table));
    EXPECT_THAT(unsettled, HasSubstr(fmt::format("USING INDEX {}_unsettled", table)));
    EXPECT_THAT(unsettled, ::testing::Not(HasSubstr("TEMP B-TREE")));
  }
}

// A catalog of schema 2 (before the counters) gets them counted from its rows.
TEST_F(CatalogScaleTest, MigrationCountsExistingRows) {
  ASSERT_TRUE(catalog_->InsertVolume(Volume("vol-a", 1, 10)).ok());
  ASSERT_TRUE(catalog_->InsertVolume(Volume("vol-b", 2, 20)).ok());
  ASSERT_TRUE(catalog_->InsertSnapshot(Snapshot("snap-a", "vol-a", 3)).ok());
  catalog_.reset();
  // Back to schema 2, as an older ditto left it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TRIGGER volumes_insert_counted; DROP TRIGGER volumes_delete_counted; "
                         "DROP TRIGGER volumes_update_counted; DROP TRIGGER "
                         "snapshots_insert_counted; DROP TRIGGER snapshots_delete_counted; DROP "
                         "INDEX volumes_thick; DROP INDEX snapshots_by_source; DROP TABLE "
                         "counters; DROP INDEX snapshots_by_origin; DROP INDEX volumes_unsettled; "
                         "DROP INDEX snapshots_unsettled; ALTER TABLE snapshots "
                         "DROP COLUMN origin_id; PRAGMA user_version = 2;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto reopened = Catalog::Open(path_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  catalog_ = std::move(*reopened);
  EXPECT_EQ(Counts().volumes, 2);
  EXPECT_EQ(Counts().snapshots, 1);
  EXPECT_EQ(Counts().provisioned_bytes, 30);
  ASSERT_TRUE(catalog_->InsertVolume(Volume("vol-c", 4, 5)).ok());
  EXPECT_EQ(Counts().provisioned_bytes, 35);
}

// The origin of a copied snapshot: kept, listed through its index, and
// '' for the rows of a catalog of schema 3 (before origins).
TEST_F(CatalogScaleTest, CopiedSnapshotsKeepTheirOriginAcrossTheMigration) {
  ASSERT_TRUE(catalog_->InsertSnapshot(Snapshot("snap-old", "vol-a", 1)).ok());
  catalog_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP INDEX snapshots_by_origin; DROP INDEX volumes_unsettled; DROP "
                         "INDEX snapshots_unsettled; ALTER TABLE snapshots DROP COLUMN "
                         "origin_id; PRAGMA user_version = 3;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto reopened = Catalog::Open(path_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  catalog_ = std::move(*reopened);
  auto old = catalog_->FindSnapshot("snap-old");
  ASSERT_TRUE(old.ok() && old->has_value()) << old.status();
  EXPECT_EQ((*old)->origin_id, "");

  SnapshotRecord copied = Snapshot("snap-copied", "vol-b", 2);
  copied.origin_id = "snap-0123abcd-on-the-other-node";
  ASSERT_TRUE(catalog_->InsertSnapshot(copied).ok());
  auto listed = catalog_->ListCopiedSnapshots();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().id, "snap-copied");
  EXPECT_EQ(listed->front().origin_id, copied.origin_id);
  copied.origin_id = "snap-other";
  ASSERT_TRUE(catalog_->UpdateSnapshot(copied).ok());
  auto found = catalog_->FindSnapshot("snap-copied");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->origin_id, "snap-other");
  EXPECT_THAT(Plan("SELECT id FROM snapshots WHERE origin_id != '' AND state = 'ready'"),
              HasSubstr("snapshots_by_origin"));
}

}  // namespace
}  // namespace ditto::catalog
