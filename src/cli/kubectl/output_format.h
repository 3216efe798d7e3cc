// `-o` of dittoctl get, as kubectl parses it: wide, yaml, json, name,
// jsonpath=TEMPLATE, custom-columns=HEADER:PATH,...; and --sort-by.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "cli/kubectl/jsonpath.h"
#include "control/api/object.h"

namespace ditto::cli {

struct OutputFormat {
  enum Type { kTable, kWide, kYaml, kJson, kName, kJsonPath, kCustomColumns } type = kTable;
  control::JsonPath template_;                                   // kJsonPath
  std::vector<std::pair<std::string, control::JsonPath>> columns;  // kCustomColumns
  // Formats that print every object at once (as a List when several).
  bool Collects() const {
    return type == kYaml || type == kJson || type == kJsonPath || type == kCustomColumns;
  }
};

StatusOr<OutputFormat> ParseOutputFormat(const std::string& text);

// kubectl's custom-columns table: one column per spec, "<none>" for a
// missing value, several values joined by commas.
std::string PrintCustomColumns(const OutputFormat& format, const std::vector<control::Json>& objects,
                               bool no_headers);

// Sorts `objects` by the value at `path` (--sort-by, relaxed JSONPath):
// numbers and quantities by size, the rest as text; objects without the
// field first. Stable.
Status SortObjects(const std::string& path, std::vector<control::Json>* objects);

}  // namespace ditto::cli
