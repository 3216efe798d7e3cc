// The table columns of the group snapshot kinds, as their CRDs' printer
// columns have them.
#include "cli/kubectl/printer_columns.h"
#include "cli/kubectl/printers.h"
#include "control/api/kinds.h"

namespace ditto::control {

std::vector<Column> GroupSnapshotColumns(std::string_view kind, int64_t now_ns) {
  // A column of the value at `path` (object keys) of each object.
  auto field = [](std::string header, std::vector<std::string> path) {
    return Column{std::move(header), [path](const Json& object) {
                    const Json* value = &object;
                    for (const std::string& key : path) {
                      if (!value->is_object() || !value->contains(key)) return std::string();
                      value = &(*value)[key];
                    }
                    return ScalarText(value);
                  }};
  };
  Column ready = field("READYTOUSE", {"status", "readyToUse"});
  Column group_class = field("VOLUMEGROUPSNAPSHOTCLASS", {"spec", "volumeGroupSnapshotClassName"});
  Column age{"AGE", [now_ns](const Json& o) { return Age(o, now_ns); }};
  if (kind == kVolumeGroupSnapshot) {
    return {ready,
            group_class,
            field("VOLUMEGROUPSNAPSHOTCONTENT", {"status", "boundVolumeGroupSnapshotContentName"}),
            {"CREATIONTIME",
             [now_ns](const Json& o) {
               int64_t t = ParseTimestamp(GetString(o, {"status", "creationTime"}));
               return t == 0 ? std::string() : FormatAge(now_ns - t);
             }},
            age};
  }
  if (kind == kVolumeGroupSnapshotContent) {
    return {ready,
            field("DELETIONPOLICY", {"spec", "deletionPolicy"}),
            field("DRIVER", {"spec", "driver"}),
            group_class,
            field("VOLUMEGROUPSNAPSHOTNAMESPACE", {"spec", "volumeGroupSnapshotRef", "namespace"}),
            field("VOLUMEGROUPSNAPSHOT", {"spec", "volumeGroupSnapshotRef", "name"}),
            age};
  }
  return {};
}

}  // namespace ditto::control
