#include "catalog/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <fmt/format.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "catalog/records.h"
#include "catalog/sqlite_catalog.h"
#include "catalog/sqlite_db.h"

namespace ditto::catalog {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

VolumeRecord Volume(const std::string& id, const std::string& name, int64_t created = 1) {
  VolumeRecord r;
  r.id = id;
  r.name = name;
  r.capacity_bytes = 1 << 20;
  r.mode_hint = "mount";
  r.fs_type = "ext4";
  r.parameters = {{"thick", "false"}, {"csi.storage.k8s.io/pvc/name", "data"}};
  r.source_kind = "volume";
  r.source_id = "vol-src";
  r.clone_method = "reflink";
  r.state = State::kReady;
  r.created_at_ns = created;
  r.updated_at_ns = created + 5;
  return r;
}

SnapshotRecord Snapshot(const std::string& id, const std::string& name, int64_t created = 1) {
  SnapshotRecord r;
  r.id = id;
  r.name = name;
  r.source_volume_id = "vol-1";
  r.size_bytes = 4096;
  r.ready_to_use = true;
  r.clone_method = "sparse-copy";
  r.state = State::kReady;
  r.created_at_ns = created;
  return r;
}

void ExpectSameVolume(const VolumeRecord& a, const VolumeRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.capacity_bytes, b.capacity_bytes);
  EXPECT_EQ(a.target_capacity_bytes, b.target_capacity_bytes);
  EXPECT_EQ(a.mode_hint, b.mode_hint);
  EXPECT_EQ(a.fs_type, b.fs_type);
  EXPECT_EQ(a.parameters, b.parameters);
  EXPECT_EQ(a.source_kind, b.source_kind);
  EXPECT_EQ(a.source_id, b.source_id);
  EXPECT_EQ(a.clone_method, b.clone_method);
  EXPECT_EQ(a.thick, b.thick);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.created_at_ns, b.created_at_ns);
  EXPECT_EQ(a.updated_at_ns, b.updated_at_ns);
}

std::unique_ptr<Catalog> OpenOrDie(const std::string& path) {
  auto catalog = Catalog::Open(path);
  EXPECT_TRUE(catalog.ok()) << catalog.status();
  return catalog.ok() ? std::move(catalog).value() : nullptr;
}

// A fresh temp directory per test, removed afterwards.
class CatalogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ditto-catalog-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/catalog.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
  std::string path_;
};

TEST(StateTest, NamesRoundTrip) {
  for (State s : {State::kCreating, State::kReady, State::kExpanding, State::kDeleting}) {
    State parsed = State::kCreating;
    ASSERT_TRUE(ParseState(StateName(s), &parsed)) << StateName(s);
    EXPECT_EQ(parsed, s);
  }
  EXPECT_STREQ(StateName(State::kExpanding), "expanding");
  State unused;
  EXPECT_FALSE(ParseState("Ready", &unused));
  EXPECT_FALSE(ParseState("", &unused));
}

TEST(CatalogTest, VolumeInsertFindUpdateDelete) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  VolumeRecord v = Volume("vol-1", "pvc-1");
  v.thick = true;
  v.state = State::kCreating;
  ASSERT_TRUE(catalog->InsertVolume(v).ok());

  auto found = catalog->FindVolume("vol-1");
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  ExpectSameVolume(**found, v);
  auto by_name = catalog->FindVolumeByName("pvc-1");
  ASSERT_TRUE(by_name.ok() && by_name->has_value());
  EXPECT_EQ((*by_name)->id, "vol-1");

  v.name = "pvc-1-renamed";
  v.capacity_bytes = 2 << 20;
  v.target_capacity_bytes = 3 << 20;
  v.state = State::kExpanding;
  v.parameters.clear();
  v.thick = false;
  v.updated_at_ns = 99;
  ASSERT_TRUE(catalog->UpdateVolume(v).ok());
  found = catalog->FindVolume("vol-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  ExpectSameVolume(**found, v);
  EXPECT_FALSE(catalog->FindVolumeByName("pvc-1")->has_value());

  EXPECT_EQ(catalog->UpdateVolume(Volume("vol-none", "x")).code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(catalog->DeleteVolume("vol-1").ok());
  EXPECT_FALSE(catalog->FindVolume("vol-1")->has_value());
  EXPECT_TRUE(catalog->DeleteVolume("vol-1").ok()) << "delete of an absent volume is OK";
}

TEST(CatalogTest, ProvisionedBytesCountsTheLargerOfCapacityAndTarget) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(*catalog->ProvisionedBytes(), 0);
  ASSERT_TRUE(catalog->InsertVolume(Volume("v1", "a")).ok());
  VolumeRecord growing = Volume("v2", "b");
  growing.state = State::kExpanding;
  growing.target_capacity_bytes = 5 << 20;
  ASSERT_TRUE(catalog->InsertVolume(growing).ok());
  EXPECT_EQ(*catalog->ProvisionedBytes(), (1 << 20) + (5 << 20));
}

TEST(CatalogTest, SnapshotInsertFindUpdateDelete) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  SnapshotRecord s = Snapshot("snap-1", "vs-1");
  ASSERT_TRUE(catalog->InsertSnapshot(s).ok());
  auto found = catalog->FindSnapshot("snap-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->name, "vs-1");
  EXPECT_EQ((*found)->source_volume_id, "vol-1");
  EXPECT_EQ((*found)->size_bytes, 4096);
  EXPECT_TRUE((*found)->ready_to_use);
  EXPECT_EQ((*found)->clone_method, "sparse-copy");
  EXPECT_EQ((*found)->state, State::kReady);
  EXPECT_EQ((*found)->created_at_ns, 1);

  s.ready_to_use = false;
  s.state = State::kDeleting;
  s.size_bytes = 8192;
  ASSERT_TRUE(catalog->UpdateSnapshot(s).ok());
  auto by_name = catalog->FindSnapshotByName("vs-1");
  ASSERT_TRUE(by_name.ok() && by_name->has_value());
  EXPECT_FALSE((*by_name)->ready_to_use);
  EXPECT_EQ((*by_name)->state, State::kDeleting);
  EXPECT_EQ((*by_name)->size_bytes, 8192);

  EXPECT_EQ(catalog->UpdateSnapshot(Snapshot("snap-none", "x")).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(catalog->DeleteSnapshot("snap-1").ok());
  EXPECT_FALSE(catalog->FindSnapshot("snap-1")->has_value());
  EXPECT_TRUE(catalog->DeleteSnapshot("snap-1").ok());
}

TEST(CatalogTest, GroupSnapshotsCommitAndDeleteWithTheirMembersAtomically) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  GroupSnapshotRecord group{"group-1", "nightly", {"snap-a", "snap-b"}, 7};
  ASSERT_TRUE(catalog->InsertGroupSnapshot(group, {Snapshot("snap-a", "a"), Snapshot("snap-b", "b")})
                  .ok());
  auto found = catalog->FindGroupSnapshot("group-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->name, "nightly");
  EXPECT_THAT((*found)->snapshot_ids, ElementsAre("snap-a", "snap-b"));
  EXPECT_EQ((*found)->created_at_ns, 7);
  EXPECT_TRUE(catalog->FindGroupSnapshotByName("nightly")->has_value());
  EXPECT_EQ(catalog->ListGroupSnapshots()->size(), 1u);
  EXPECT_TRUE(catalog->FindSnapshot("snap-b")->has_value());

  // A member that cannot be inserted (its name is taken): nothing of the group.
  ASSERT_TRUE(catalog->InsertSnapshot(Snapshot("snap-x", "taken")).ok());
  GroupSnapshotRecord second{"group-2", "weekly", {"snap-c", "snap-d"}, 8};
  EXPECT_EQ(catalog
                ->InsertGroupSnapshot(second, {Snapshot("snap-c", "c"), Snapshot("snap-d", "taken")})
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(catalog->FindGroupSnapshot("group-2")->has_value());
  EXPECT_FALSE(catalog->FindSnapshot("snap-c")->has_value());

  ASSERT_TRUE(catalog->DeleteGroupSnapshot("group-1").ok());
  EXPECT_FALSE(catalog->FindGroupSnapshot("group-1")->has_value());
  EXPECT_FALSE(catalog->FindSnapshot("snap-a")->has_value());
  EXPECT_FALSE(catalog->FindSnapshot("snap-b")->has_value());
  EXPECT_TRUE(catalog->FindSnapshot("snap-x")->has_value());
  EXPECT_TRUE(catalog->DeleteGroupSnapshot("group-1").ok());  // idempotent
}

TEST(CatalogTest, DeletingAVolumeKeepsItsSnapshots) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->InsertVolume(Volume("vol-1", "pvc-1")).ok());
  ASSERT_TRUE(catalog->InsertSnapshot(Snapshot("snap-1", "vs-1")).ok());
  ASSERT_TRUE(catalog->DeleteVolume("vol-1").ok());
  auto found = catalog->FindSnapshot("snap-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->source_volume_id, "vol-1");
}

TEST(CatalogTest, NamesAndIdsAreUnique) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->InsertVolume(Volume("vol-1", "pvc-1")).ok());

  Status same_name = catalog->InsertVolume(Volume("vol-2", "pvc-1"));
  EXPECT_EQ(same_name.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(same_name.message()), HasSubstr("\"pvc-1\""));

  Status same_id = catalog->InsertVolume(Volume("vol-1", "pvc-2"));
  EXPECT_EQ(same_id.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(same_id.message()), HasSubstr("\"vol-1\""));

  // Renaming onto a taken name is refused too.
  ASSERT_TRUE(catalog->InsertVolume(Volume("vol-2", "pvc-2")).ok());
  Status rename = catalog->UpdateVolume(Volume("vol-2", "pvc-1"));
  EXPECT_EQ(rename.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(rename.message()), HasSubstr("\"pvc-1\""));

  ASSERT_TRUE(catalog->InsertSnapshot(Snapshot("snap-1", "vs-1")).ok());
  Status snap_name = catalog->InsertSnapshot(Snapshot("snap-2", "vs-1"));
  EXPECT_EQ(snap_name.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(snap_name.message()), HasSubstr("\"vs-1\""));
  Status snap_id = catalog->InsertSnapshot(Snapshot("snap-1", "vs-2"));
  EXPECT_EQ(snap_id.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(snap_id.message()), HasSubstr("\"snap-1\""));

  // A volume and a snapshot may share a name: uniqueness is per kind.
  EXPECT_TRUE(catalog->InsertSnapshot(Snapshot("snap-3", "pvc-1")).ok());
}

TEST(CatalogTest, ParametersRoundTrip) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  VolumeRecord empty = Volume("vol-1", "pvc-1");
  empty.parameters.clear();
  VolumeRecord unicode = Volume("vol-2", "pvc-2");
  unicode.parameters = {{"ключ", "値 ✓ \"quoted\" \\ 'single'"},
                        {"", ""},
                        {"sql", "x'); DROP TABLE volumes; --"},
                        {"newline", "a\nb\tc"}};
  ASSERT_TRUE(catalog->InsertVolume(empty).ok());
  ASSERT_TRUE(catalog->InsertVolume(unicode).ok());
  auto a = catalog->FindVolume("vol-1");
  auto b = catalog->FindVolume("vol-2");
  ASSERT_TRUE(a.ok() && a->has_value() && b.ok() && b->has_value());
  EXPECT_TRUE((*a)->parameters.empty());
  EXPECT_EQ((*b)->parameters, unicode.parameters);
}

TEST(CatalogTest, InvalidUtf8ParametersAreRefused) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  VolumeRecord v = Volume("vol-1", "pvc-1");
  v.parameters = {{"bad", "\xff\xfe"}};
  EXPECT_EQ(catalog->InsertVolume(v).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(catalog->FindVolume("vol-1")->has_value());
}

TEST(CatalogTest, ListsAreOrderedByCreationThenId) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->InsertVolume(Volume("vol-c", "c", 20)).ok());
  ASSERT_TRUE(catalog->InsertVolume(Volume("vol-b", "b", 10)).ok());
  ASSERT_TRUE(catalog->InsertVolume(Volume("vol-a", "a", 20)).ok());
  auto volumes = catalog->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  std::vector<std::string> ids;
  for (const auto& v : *volumes) ids.push_back(v.id);
  EXPECT_THAT(ids, ElementsAre("vol-b", "vol-a", "vol-c"));

  ASSERT_TRUE(catalog->InsertSnapshot(Snapshot("snap-z", "z", 5)).ok());
  ASSERT_TRUE(catalog->InsertSnapshot(Snapshot("snap-y", "y", 7)).ok());
  ASSERT_TRUE(catalog->InsertSnapshot(Snapshot("snap-x", "x", 7)).ok());
  auto snapshots = catalog->ListSnapshots();
  ASSERT_TRUE(snapshots.ok());
  ids.clear();
  for (const auto& s : *snapshots) ids.push_back(s.id);
  EXPECT_THAT(ids, ElementsAre("snap-z", "snap-x", "snap-y"));
}

TEST(CatalogTest, StagesPutReplaceDelete) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  StageRecord s{.volume_id = "vol-1",
                .staging_path = "/var/lib/kubelet/staging/vol-1",
                .device = "/dev/loop3",
                .block = false,
                .fs_type = "xfs",
                .mount_flags = "noatime,nodev",
                .access_mode = "SINGLE_NODE_WRITER",
                .created_at_ns = 7};
  ASSERT_TRUE(catalog->PutStage(s).ok());
  s.device = "/dev/loop4";
  s.block = true;
  ASSERT_TRUE(catalog->PutStage(s).ok());
  auto found = catalog->FindStage("vol-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->device, "/dev/loop4");
  EXPECT_TRUE((*found)->block);
  EXPECT_EQ((*found)->staging_path, s.staging_path);
  EXPECT_EQ((*found)->fs_type, "xfs");
  EXPECT_EQ((*found)->mount_flags, "noatime,nodev");
  EXPECT_EQ((*found)->access_mode, "SINGLE_NODE_WRITER");
  EXPECT_EQ((*found)->created_at_ns, 7);
  ASSERT_EQ(catalog->ListStages()->size(), 1u);

  ASSERT_TRUE(catalog->DeleteStage("vol-1").ok());
  EXPECT_FALSE(catalog->FindStage("vol-1")->has_value());
  EXPECT_TRUE(catalog->DeleteStage("vol-1").ok());
  EXPECT_TRUE(catalog->ListStages()->empty());
}

TEST(CatalogTest, PublishesPutReplaceDelete) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->PutPublish({"vol-1", "/pods/b", false, false, 2}).ok());
  ASSERT_TRUE(catalog->PutPublish({"vol-1", "/pods/a", false, false, 2}).ok());
  ASSERT_TRUE(catalog->PutPublish({"vol-2", "/pods/c", true, true, 1}).ok());
  // Same key replaces.
  ASSERT_TRUE(catalog->PutPublish({"vol-1", "/pods/b", true, false, 2}).ok());

  auto vol1 = catalog->ListPublishes("vol-1");
  ASSERT_TRUE(vol1.ok());
  ASSERT_EQ(vol1->size(), 2u);
  EXPECT_EQ((*vol1)[0].target_path, "/pods/a");
  EXPECT_EQ((*vol1)[1].target_path, "/pods/b");
  EXPECT_TRUE((*vol1)[1].read_only);

  auto all = catalog->ListAllPublishes();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].volume_id, "vol-2");
  EXPECT_TRUE((*all)[0].block);

  ASSERT_TRUE(catalog->DeletePublish("vol-1", "/pods/a").ok());
  EXPECT_TRUE(catalog->DeletePublish("vol-1", "/pods/a").ok());
  EXPECT_EQ(catalog->ListPublishes("vol-1")->size(), 1u);
  EXPECT_TRUE(catalog->ListPublishes("vol-3")->empty());
}

TEST(CatalogTest, Settings) {
  auto catalog = OpenOrDie(":memory:");
  ASSERT_NE(catalog, nullptr);
  EXPECT_FALSE(catalog->GetSetting("overcommit_ratio")->has_value());
  ASSERT_TRUE(catalog->PutSetting("overcommit_ratio", "1.5").ok());
  ASSERT_TRUE(catalog->PutSetting("overcommit_ratio", "2").ok());
  ASSERT_TRUE(catalog->PutSetting("empty", "").ok());
  EXPECT_EQ(catalog->GetSetting("overcommit_ratio")->value_or("?"), "2");
  EXPECT_EQ(catalog->GetSetting("empty")->value_or("?"), "");
}

TEST_F(CatalogFileTest, TwoCatalogsOnOneFileSeeEachOthersWrites) {
  auto a = OpenOrDie(path_);
  auto b = OpenOrDie(path_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->InsertVolume(Volume("vol-1", "pvc-1")).ok());
  auto seen = b->FindVolumeByName("pvc-1");
  ASSERT_TRUE(seen.ok() && seen->has_value());
  EXPECT_EQ((*seen)->id, "vol-1");
  ASSERT_TRUE(b->PutSetting("k", "v").ok());
  EXPECT_EQ(a->GetSetting("k")->value_or(""), "v");
  // The second object also honours uniqueness written by the first.
  EXPECT_EQ(b->InsertVolume(Volume("vol-2", "pvc-1")).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(CatalogFileTest, ReopenKeepsData) {
  VolumeRecord v = Volume("vol-1", "pvc-1");
  {
    auto catalog = OpenOrDie(path_);
    ASSERT_NE(catalog, nullptr);
    ASSERT_TRUE(catalog->InsertVolume(v).ok());
    ASSERT_TRUE(catalog->InsertSnapshot(Snapshot("snap-1", "vs-1")).ok());
    ASSERT_TRUE(catalog->PutPublish({"vol-1", "/t", false, false, 1}).ok());
  }
  auto catalog = OpenOrDie(path_);
  ASSERT_NE(catalog, nullptr);
  auto found = catalog->FindVolume("vol-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  ExpectSameVolume(**found, v);
  EXPECT_TRUE(catalog->FindSnapshot("snap-1")->has_value());
  EXPECT_EQ(catalog->ListAllPublishes()->size(), 1u);
}

TEST_F(CatalogFileTest, WalModeAndSchemaVersionAreSet) {
  ASSERT_NE(OpenOrDie(path_), nullptr);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto query = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    std::string value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return value;
  };
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query("PRAGMA user_version"), std::to_string(kSchemaVersion));
  sqlite3_close(db);
}

TEST_F(CatalogFileTest, NewerSchemaIsRefused) {
  ASSERT_NE(OpenOrDie(path_), nullptr);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 999", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto catalog = Catalog::Open(path_);
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(catalog.status().message()), HasSubstr("999"));
}

TEST_F(CatalogFileTest, CorruptFileIsDataLoss) {
  {
    std::ofstream out(path_, std::ios::binary);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>((i * 131 + 7) & 0xff));
  }
  auto catalog = Catalog::Open(path_);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kDataLoss) << catalog.status();
  EXPECT_THAT(std::string(catalog.status().message()), HasSubstr(path_));
}

TEST_F(CatalogFileTest, MissingDirectoryIsNotFound) {
  auto catalog = Catalog::Open(dir_ + "/no/such/dir/catalog.db");
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kNotFound) << catalog.status();
  EXPECT_THAT(std::string(catalog.status().message()), HasSubstr("does not exist"));
}

TEST_F(CatalogFileTest, ConcurrentWritersOnOneFileAllLand) {
  auto a = OpenOrDie(path_);
  auto b = OpenOrDie(path_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kPerThread = 25;
  auto writer = [&](Catalog* catalog, const std::string& prefix) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string id = prefix + std::to_string(i);
      Status status = catalog->InsertVolume(Volume(id, "pvc-" + id, i));
      EXPECT_TRUE(status.ok()) << status;
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(writer, a.get(), "a");
  threads.emplace_back(writer, a.get(), "b");
  threads.emplace_back(writer, b.get(), "c");
  threads.emplace_back(writer, b.get(), "d");
  for (auto& t : threads) t.join();
  auto volumes = a->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  EXPECT_EQ(volumes->size(), 4u * kPerThread);
}

// Concurrent writes share group commits; a write that fails inside a shared
// transaction (here: a taken name) is rolled back alone, so every name ends
// up with exactly one volume and every other write of the batch lands.
TEST_F(CatalogFileTest, FailingWritesInASharedCommitRollBackAlone) {
  auto catalog = OpenOrDie(path_);
  ASSERT_NE(catalog, nullptr);
  constexpr int kThreads = 8;
  constexpr int kNames = 40;
  std::atomic<int> created{0};
  std::atomic<int> refused{0};
  auto writer = [&](int thread) {
    for (int i = 0; i < kNames; ++i) {
      std::string id = fmt::format("t{}-{}", thread, i);
      Status status = catalog->InsertVolume(Volume(id, fmt::format("pvc-{}", i), i));
      if (status.ok()) {
        ++created;
      } else {
        EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
        EXPECT_THAT(std::string(status.message()), HasSubstr(fmt::format("\"pvc-{}\"", i)));
        ++refused;
      }
      // Writes of other kinds in the same batches must land regardless.
      EXPECT_TRUE(catalog->PutSetting(fmt::format("t{}", thread), std::to_string(i)).ok());
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(writer, t);
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), kNames);
  EXPECT_EQ(refused.load(), (kThreads - 1) * kNames);
  auto volumes = catalog->ListVolumes();
  ASSERT_TRUE(volumes.ok());
  EXPECT_EQ(volumes->size(), static_cast<size_t>(kNames));
  for (int t = 0; t < kThreads; ++t) {
    auto value = catalog->GetSetting(fmt::format("t{}", t));
    ASSERT_TRUE(value.ok());
    EXPECT_EQ(value->value_or(""), std::to_string(kNames - 1));
  }
  // Everything is on disk: a second opener sees the same.
  auto again = OpenOrDie(path_);
  ASSERT_NE(again, nullptr);
  auto reread = again->ListVolumes();
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->size(), static_cast<size_t>(kNames));
}

TEST(SqliteErrorTest, ResultCodesMapToStatusCodes) {
  auto db = Db::Open(":memory:");
  ASSERT_TRUE(db.ok()) << db.status();
  Status busy = (*db)->Error(SQLITE_BUSY, "insert a volume");
  EXPECT_EQ(busy.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(busy.message()), HasSubstr("locked by another process; retry"));
  EXPECT_EQ((*db)->Error(SQLITE_LOCKED, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*db)->Error(SQLITE_BUSY_SNAPSHOT, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*db)->Error(SQLITE_FULL, "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*db)->Error(SQLITE_CORRUPT, "x").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ((*db)->Error(SQLITE_NOTADB, "x").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ((*db)->Error(SQLITE_CONSTRAINT_UNIQUE, "x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ((*db)->Error(SQLITE_CONSTRAINT_PRIMARYKEY, "x").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ((*db)->Error(SQLITE_CONSTRAINT_NOTNULL, "x").code(), absl::StatusCode::kInternal);
  EXPECT_EQ((*db)->Error(SQLITE_IOERR_FSYNC, "x").code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace ditto::catalog
