// YAML in and out: multi-document YAML (as `kubectl apply -f` reads it) to
// JSON objects that remember where each value came from, and JSON objects
// back to YAML (as `kubectl get -o yaml` prints them).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "nlohmann/json.hpp"

namespace ditto::control {

// A position in an input file, 1-based.
struct SourcePosition {
  std::string file;
  int line = 0;
  int column = 0;
  // "FILE:LINE:COLUMN" (or just FILE when the line is unknown).
  std::string ToString() const;
};

// One document of a YAML stream.
struct Document {
  nlohmann::json object;
  std::string file;
  int index = 0;  // 0-based position in the stream (empty documents count)
  // JSON pointer ("/spec/resources/requests/storage") -> where its value
  // starts; map keys are recorded too, under "<pointer>#key".
  std::map<std::string, SourcePosition> positions;

  // Where the value at `pointer` (or its nearest recorded ancestor) starts.
  SourcePosition PositionOf(const std::string& pointer) const;
};

// Parses every document in `text`; `file` names it in errors ("-" for stdin).
// Plain scalars resolve as YAML 1.2 core (null, true/false, integers,
// floats); quoted scalars are strings. Empty documents are skipped.
// InvalidArgument "FILE:LINE:COLUMN: ..." on malformed YAML, duplicate keys,
// non-string keys or anchors/aliases that are not plain data.
StatusOr<std::vector<Document>> ParseYaml(std::string_view text, std::string_view file);

// Block-style YAML of `value`; strings that would read back as another type
// ("true", "5", "") are quoted so the output round-trips.
std::string ToYaml(const nlohmann::json& value);

// Escapes one JSON pointer token ("~" -> "~0", "/" -> "~1").
std::string PointerToken(std::string_view token);

}  // namespace ditto::control
