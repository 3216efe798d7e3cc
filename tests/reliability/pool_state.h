// What a pool holds on disk, read while dittod is stopped: the catalog (opened
// read-only with SQLite, so reading it never runs recovery) and the image
// files. Used to check that the catalog and the files agree after a crash,
// and that hostile requests changed nothing.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace ditto::reliability {

struct VolumeRow {
  std::string name;
  std::string state;
  int64_t capacity = 0;
  std::string source_kind;
  std::string source_id;
};

struct SnapshotRow {
  std::string name;
  std::string state;
  std::string source_volume_id;
  int64_t size = 0;
};

struct PoolState {
  std::map<std::string, VolumeRow> volumes;                 // by id
  std::map<std::string, SnapshotRow> snapshots;             // by id
  std::map<std::string, std::string> stages;                // volume id -> staging path
  std::set<std::pair<std::string, std::string>> publishes;  // (volume id, target)
  std::map<std::string, uint64_t> volume_files;             // id -> image size
  std::map<std::string, uint64_t> snapshot_files;           // id -> image size
  std::set<std::string> tmp_files;
  std::set<std::string> data_dir_entries;  // names at the top of the data dir

  // A deterministic text of everything above, to compare before/after.
  std::string Fingerprint() const;
};

// Reads `data_dir`/catalog.db (read-only) and lists volumes/, snapshots/ and
// tmp/.
StatusOr<PoolState> ReadPoolState(const std::string& data_dir);

// Every way the catalog and the files disagree, one line each (empty when
// consistent): an image without a record, a record without an image, an
// image whose size is not the recorded capacity, a record in an intermediate
// state (creating, expanding, deleting), a file left in tmp/.
std::vector<std::string> Inconsistencies(const PoolState& state);

}  // namespace ditto::reliability
