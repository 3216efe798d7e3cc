// The table columns of `get`, shared by printers.cc and the kinds whose
// columns have their own file (group_snapshot_columns.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "control/api/object.h"

namespace ditto::control {

struct Column {
  std::string header;
  std::function<std::string(const Json&)> value;
  bool wide_only = false;
};

// The AGE cell: time since metadata.creationTimestamp.
std::string Age(const Json& object, int64_t now_ns);
// A scalar as kubectl prints it ("true", "5", "text"); "" when absent.
std::string ScalarText(const Json* value);

// The columns of the group snapshot kinds, as their CRDs' printer columns
// have them; empty for any other kind.
std::vector<Column> GroupSnapshotColumns(std::string_view kind, int64_t now_ns);

}  // namespace ditto::control
