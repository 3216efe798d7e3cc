// Output as kubectl prints it: tables (default and -o wide), YAML/JSON
// (single objects, or a List), `describe`, and event listings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/api/kinds.h"
#include "control/api/object.h"
#include "control/apiserver/store.h"

namespace ditto::control {

struct TableOptions {
  bool wide = false;
  bool all_namespaces = false;  // adds the NAMESPACE column
  bool with_kind = false;       // names as "persistentvolumeclaim/x" (several kinds at once)
  bool no_headers = false;
};

// A table of `objects` (all of `kind`), columns as kubectl has them.
std::string PrintTable(const KindInfo& kind, const std::vector<Json>& objects,
                       const TableOptions& options, int64_t now_ns);
// LAST SEEN / TYPE / REASON / OBJECT / MESSAGE.
std::string PrintEvents(const std::vector<EventRecord>& events, bool all_namespaces,
                        int64_t now_ns);
// The objects as one YAML/JSON document (a List when `as_list`).
std::string PrintYaml(const std::vector<Json>& objects, bool as_list);
std::string PrintJson(const std::vector<Json>& objects, bool as_list);

// `describe`: the object's fields in kubectl's layout, then its events.
// `mounts` are where this node has the claim published (for "Used By").
std::string Describe(const Json& object, const std::vector<EventRecord>& events,
                     const std::vector<MountRecord>& mounts, int64_t now_ns);

// kubectl's human duration: "45s", "5m12s", "3h", "2d".
std::string FormatAge(int64_t duration_ns);
// "RWO,RWX" for a list of access modes.
std::string AccessModesShort(const Json& modes);

}  // namespace ditto::control
