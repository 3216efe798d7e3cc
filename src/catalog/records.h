// Plain records stored in the catalog. Times are Unix nanoseconds.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ditto::catalog {

// Lifecycle of a volume or snapshot record. kExpanding is an intent that
// recovery finishes on open. The pool now commits rows only as kReady (see
// pool.h); kCreating/kDeleting rows of older pools are still finished or
// rolled back by recovery.
enum class State { kCreating, kReady, kExpanding, kDeleting };
const char* StateName(State state);
bool ParseState(const std::string& text, State* state);

// A place in the (created_at, id) order that volumes and snapshots are
// listed in: listing "after" it resumes behind that record, even once the
// record itself is gone.
struct ListPosition {
  int64_t created_at_ns = 0;
  std::string id;
};

struct VolumeRecord {
  std::string id;
  std::string name;
  int64_t capacity_bytes = 0;
  // Intent of an expansion in progress (state kExpanding), else 0.
  int64_t target_capacity_bytes = 0;
  std::string mode_hint;  // "mount", "block" or "" (unknown)
  std::string fs_type;    // requested filesystem for mount volumes
  std::map<std::string, std::string> parameters;
  std::string source_kind;  // "", "volume" or "snapshot"
  std::string source_id;
  std::string clone_method;  // "", "reflink" or "sparse-copy"
  bool thick = false;
  State state = State::kCreating;
  int64_t created_at_ns = 0;
  int64_t updated_at_ns = 0;
};

struct SnapshotRecord {
  std::string id;
  std::string name;
  std::string source_volume_id;
  int64_t size_bytes = 0;
  bool ready_to_use = false;
  std::string clone_method;
  State state = State::kCreating;
  int64_t created_at_ns = 0;
  // The copy of another node's snapshot: its ID there (which carries that
  // node's tag), kept so that a later copy of the same lineage from that
  // node moves only the changed blocks. "" for every other snapshot.
  std::string origin_id;
};

// A volume group snapshot: member snapshots taken together (crash-consistent),
// committed with the group in one transaction.
struct GroupSnapshotRecord {
  std::string id;
  std::string name;
  std::vector<std::string> snapshot_ids;  // member snapshots, sorted
  int64_t created_at_ns = 0;
};

// The node side: a volume attached to a loop device and (mount volumes)
// mounted at a staging path.
struct StageRecord {
  std::string volume_id;
  std::string staging_path;
  std::string device;  // /dev/loopN
  bool block = false;
  std::string fs_type;
  std::string mount_flags;  // comma separated, as requested
  std::string access_mode;
  int64_t created_at_ns = 0;
};

struct PublishRecord {
  std::string volume_id;
  std::string target_path;
  bool read_only = false;
  bool block = false;
  int64_t created_at_ns = 0;
};

}  // namespace ditto::catalog
