#include "reliability/pool_state.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>

#include "fmt/format.h"
#include "support/pool_paths.h"

namespace ditto::reliability {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

std::string Text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text == nullptr ? std::string() : reinterpret_cast<const char*>(text);
}

// Runs `sql` and calls `row` for each result row.
template <typename Row>
Status Query(sqlite3* db, const char* sql, Row&& row) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    return absl::InternalError(fmt::format("{}: {}", sql, sqlite3_errmsg(db)));
  }
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt(raw);
  for (;;) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) return absl::OkStatus();
    if (rc != SQLITE_ROW)
      return absl::InternalError(fmt::format("{}: {}", sql, sqlite3_errmsg(db)));
    row(stmt.get());
  }
}

StatusOr<std::map<std::string, uint64_t>> ListFiles(const std::string& dir) {
  std::map<std::string, uint64_t> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    struct stat info;
    if (::lstat(entry.path().c_str(), &info) != 0) continue;
    files[entry.path().filename()] = static_cast<uint64_t>(info.st_size);
  }
  if (error) return absl::InternalError(fmt::format("cannot list {}: {}", dir, error.message()));
  return files;
}

// The images in DATA/volumes or DATA/snapshots by id, with their sizes: files
// <id>.img, or subvolumes <id> holding disk.img (an entry without its image
// is listed with size UINT64_MAX, so it never matches a capacity).
StatusOr<std::map<std::string, uint64_t>> ListImages(const std::string& dir) {
  ASSIGN_OR_RETURN(auto entries, ListFiles(dir));
  std::map<std::string, uint64_t> images;
  for (const auto& [name, size] : entries) {
    uint64_t image_size = size;
    if (std::filesystem::is_directory(dir + "/" + name)) {
      struct stat info;
      std::string image = dir + "/" + name + "/disk.img";
      image_size = ::lstat(image.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_size)
                                                     : UINT64_MAX;
    }
    images[test::PoolEntryId(name)] = image_size;
  }
  return images;
}

}  // namespace

StatusOr<PoolState> ReadPoolState(const std::string& data_dir) {
  PoolState state;
  std::string path = data_dir + "/catalog.db";
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, DbCloser> db(raw);
  if (rc != SQLITE_OK) {
    return absl::InternalError(fmt::format("cannot open {} read-only: {}", path,
                                           raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  sqlite3_busy_timeout(db.get(), 5000);
  RETURN_IF_ERROR(
      Query(db.get(), "SELECT id, name, state, capacity, source_kind, source_id FROM volumes",
            [&](sqlite3_stmt* s) {
              state.volumes[Text(s, 0)] = {Text(s, 1), Text(s, 2), sqlite3_column_int64(s, 3),
                                           Text(s, 4), Text(s, 5)};
            }));
  RETURN_IF_ERROR(Query(db.get(), "SELECT id, name, state, source_volume_id, size FROM snapshots",
                        [&](sqlite3_stmt* s) {
                          state.snapshots[Text(s, 0)] = {Text(s, 1), Text(s, 2), Text(s, 3),
                                                         sqlite3_column_int64(s, 4)};
                        }));
  RETURN_IF_ERROR(Query(db.get(), "SELECT volume_id, staging_path FROM stages",
                        [&](sqlite3_stmt* s) { state.stages[Text(s, 0)] = Text(s, 1); }));
  RETURN_IF_ERROR(
      Query(db.get(), "SELECT volume_id, target_path FROM publishes", [&](sqlite3_stmt* s) {
        state.publishes.insert({Text(s, 0), Text(s, 1)});
      }));
  ASSIGN_OR_RETURN(state.volume_files, ListImages(data_dir + "/volumes"));
  ASSIGN_OR_RETURN(state.snapshot_files, ListImages(data_dir + "/snapshots"));
  ASSIGN_OR_RETURN(auto tmp, ListFiles(data_dir + "/tmp"));
  for (const auto& [name, size] : tmp) state.tmp_files.insert(name);
  ASSIGN_OR_RETURN(auto top, ListFiles(data_dir));
  for (const auto& [name, size] : top) {
    // SQLite's own files come and go with connections.
    if (name.rfind("catalog.db", 0) != 0) state.data_dir_entries.insert(name);
  }
  return state;
}

std::vector<std::string> Inconsistencies(const PoolState& state) {
  std::vector<std::string> problems;
  for (const auto& [id, volume] : state.volumes) {
    auto file = state.volume_files.find(id);
    if (volume.state != "ready") {
      problems.push_back(
          fmt::format("volume {} ({}) is left in state {}", id, volume.name, volume.state));
    }
    if (file == state.volume_files.end()) {
      problems.push_back(fmt::format("volume {} ({}) has a record but no image", id, volume.name));
    } else if (static_cast<int64_t>(file->second) != volume.capacity) {
      problems.push_back(fmt::format("volume {} ({}): image is {} bytes, catalog says {}", id,
                                     volume.name, file->second, volume.capacity));
    }
  }
  for (const auto& [id, size] : state.volume_files) {
    if (!state.volumes.count(id)) {
      problems.push_back(fmt::format("image volumes/{} has no catalog record", id));
    }
  }
  for (const auto& [id, snapshot] : state.snapshots) {
    if (snapshot.state != "ready") {
      problems.push_back(
          fmt::format("snapshot {} ({}) is left in state {}", id, snapshot.name, snapshot.state));
    }
    if (!state.snapshot_files.count(id)) {
      problems.push_back(
          fmt::format("snapshot {} ({}) has a record but no image", id, snapshot.name));
    }
  }
  for (const auto& [id, size] : state.snapshot_files) {
    if (!state.snapshots.count(id)) {
      problems.push_back(fmt::format("image snapshots/{} has no catalog record", id));
    }
  }
  for (const auto& [volume_id, path] : state.stages) {
    if (!state.volumes.count(volume_id)) {
      problems.push_back(fmt::format("stage record of unknown volume {} at {}", volume_id, path));
    }
  }
  for (const auto& name : state.tmp_files) problems.push_back("tmp/" + name + " was left behind");
  return problems;
}

std::string PoolState::Fingerprint() const {
  std::string out;
  for (const auto& [id, v] : volumes) {
    out += fmt::format("volume {} {} {} {} {} {}\n", id, v.name, v.state, v.capacity, v.source_kind,
                       v.source_id);
  }
  for (const auto& [id, s] : snapshots) {
    out +=
        fmt::format("snapshot {} {} {} {} {}\n", id, s.name, s.state, s.source_volume_id, s.size);
  }
  for (const auto& [id, path] : stages) out += fmt::format("stage {} {}\n", id, path);
  for (const auto& [id, path] : publishes) out += fmt::format("publish {} {}\n", id, path);
  for (const auto& [name, size] : volume_files)
    out += fmt::format("file volumes/{} {}\n", name, size);
  for (const auto& [name, size] : snapshot_files) {
    out += fmt::format("file snapshots/{} {}\n", name, size);
  }
  for (const auto& name : tmp_files) out += fmt::format("file tmp/{}\n", name);
  for (const auto& name : data_dir_entries) out += fmt::format("entry {}\n", name);
  return out;
}

}  // namespace ditto::reliability
