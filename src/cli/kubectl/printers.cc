#include "cli/kubectl/printers.h"

#include <algorithm>
#include <functional>

#include "cli/kubectl/printer_columns.h"
#include "control/api/yaml_io.h"
#include "fmt/format.h"

namespace ditto::control {

std::string Age(const Json& object, int64_t now_ns) {
  int64_t created = ParseTimestamp(GetString(object, {"metadata", "creationTimestamp"}));
  if (created == 0) return "<unknown>";
  return FormatAge(now_ns - created);
}

std::string ScalarText(const Json* value) {
  if (value == nullptr || value->is_null()) return "";
  if (value->is_string()) return value->get<std::string>();
  return value->dump();
}

namespace {

std::string Or(const std::string& text, const std::string& fallback) {
  return text.empty() ? fallback : text;
}

std::string RenderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows, bool no_headers) {
  std::vector<size_t> widths(headers.size(), 0);
  for (size_t i = 0; i < headers.size(); ++i) widths[i] = headers[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t i = 0; i < cells.size(); ++i) {
      text += cells[i];
      if (i + 1 < cells.size()) text += std::string(widths[i] - cells[i].size() + 3, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  if (!no_headers) line(headers);
  for (const auto& row : rows) line(row);
  return out;
}

// Kept in one piece: a table, one entry per kind.
std::vector<Column> ColumnsFor(const KindInfo& kind, int64_t now_ns) {
  auto age = [now_ns](const Json& o) { return Age(o, now_ns); };
  std::string k(kind.kind);
  if (k == kPersistentVolumeClaim) {
    return {{"STATUS",
             [](const Json& o) {
               return IsBeingDeleted(o) ? std::string("Terminating")
                                        : GetString(o, {"status", "phase"}, "Pending");
             }},
            {"VOLUME",
             [](const Json& o) {
               return GetString(o, {"spec", "volumeName"});
             }},
            {"CAPACITY",
             [](const Json& o) {
               return GetString(o, {"status", "capacity", "storage"});
             }},
            {"ACCESS MODES",
             [](const Json& o) {
               const Json* modes = Find(o, {"status", "accessModes"});
               return modes ? AccessModesShort(*modes) : std::string();
             }},
            {"STORAGECLASS",
             [](const Json& o) {
               return Or(GetString(o, {"spec", "storageClassName"}), "<unset>");
             }},
            {"VOLUMEATTRIBUTESCLASS",
             [](const Json& o) {
               return Or(GetString(o, {"spec", "volumeAttributesClassName"}), "<unset>");
             }},
            {"AGE", age},
            {"VOLUMEMODE",
             [](const Json& o) {
               return GetString(o, {"spec", "volumeMode"}, "Filesystem");
             },
             true}};
  }
  if (k == kPersistentVolume) {
    return {{"CAPACITY",
             [](const Json& o) {
               return GetString(o, {"spec", "capacity", "storage"});
             }},
            {"ACCESS MODES",
             [](const Json& o) {
               const Json* modes = Find(o, {"spec", "accessModes"});
               return modes ? AccessModesShort(*modes) : std::string();
             }},
            {"RECLAIM POLICY",
             [](const Json& o) {
               return GetString(o, {"spec", "persistentVolumeReclaimPolicy"});
             }},
            {"STATUS",
             [](const Json& o) {
               return GetString(o, {"status", "phase"});
             }},
            {"CLAIM",
             [](const Json& o) {
               std::string name = GetString(o, {"spec", "claimRef", "name"});
               if (name.empty()) return std::string();
               return fmt::format("{}/{}", GetString(o, {"spec", "claimRef", "namespace"}), name);
             }},
            {"STORAGECLASS",
             [](const Json& o) {
               return GetString(o, {"spec", "storageClassName"});
             }},
            {"VOLUMEATTRIBUTESCLASS",
             [](const Json& o) {
               return Or(GetString(o, {"spec", "volumeAttributesClassName"}), "<unset>");
             }},
            {"REASON",
             [](const Json& o) {
               return GetString(o, {"status", "reason"});
             }},
            {"AGE", age},
            {"VOLUMEMODE",
             [](const Json& o) {
               return GetString(o, {"spec", "volumeMode"}, "Filesystem");
             },
             true}};
  }
  if (k == kStorageClass) {
    return {
        {"PROVISIONER", [](const Json& o) { return GetString(o, {"provisioner"}); }},
        {"RECLAIMPOLICY", [](const Json& o) { return GetString(o, {"reclaimPolicy"}, "Delete"); }},
        {"VOLUMEBINDINGMODE",
         [](const Json& o) { return GetString(o, {"volumeBindingMode"}, "Immediate"); }},
        {"ALLOWVOLUMEEXPANSION",
         [](const Json& o) { return GetBool(o, {"allowVolumeExpansion"}) ? "true" : "false"; }},
        {"AGE", age}};
  }
  if (k == kNamespace) {
    return {{"STATUS",
             [](const Json& o) {
               return IsBeingDeleted(o) ? std::string("Terminating")
                                        : GetString(o, {"status", "phase"}, "Active");
             }},
            {"AGE", age}};
  }
  if (k == kVolumeAttributesClass) {
    return {{"DRIVERNAME", [](const Json& o) { return GetString(o, {"driverName"}); }},
            {"AGE", age}};
  }
  if (k == kVolumeSnapshotClass || k == kVolumeGroupSnapshotClass) {
    return {{"DRIVER", [](const Json& o) { return GetString(o, {"driver"}); }},
            {"DELETIONPOLICY", [](const Json& o) { return GetString(o, {"deletionPolicy"}); }},
            {"AGE", age}};
  }
  if (k == kVolumeSnapshot) {
    return {{"READYTOUSE",
             [](const Json& o) {
               return ScalarText(Find(o, {"status", "readyToUse"}));
             }},
            {"SOURCEPVC",
             [](const Json& o) {
               return GetString(o, {"spec", "source", "persistentVolumeClaimName"});
             }},
            {"SOURCESNAPSHOTCONTENT",
             [](const Json& o) {
               return GetString(o, {"spec", "source", "volumeSnapshotContentName"});
             }},
            {"RESTORESIZE",
             [](const Json& o) {
               return GetString(o, {"status", "restoreSize"});
             }},
            {"SNAPSHOTCLASS",
             [](const Json& o) {
               return GetString(o, {"spec", "volumeSnapshotClassName"});
             }},
            {"SNAPSHOTCONTENT",
             [](const Json& o) {
               return GetString(o, {"status", "boundVolumeSnapshotContentName"});
             }},
            {"CREATIONTIME",
             [now_ns](const Json& o) {
               int64_t t = ParseTimestamp(GetString(o, {"status", "creationTime"}));
               return t == 0 ? std::string() : FormatAge(now_ns - t);
             }},
            {"AGE", age}};
  }
  if (k == kVolumeSnapshotContent) {
    return {{"READYTOUSE",
             [](const Json& o) {
               return ScalarText(Find(o, {"status", "readyToUse"}));
             }},
            {"RESTORESIZE",
             [](const Json& o) {
               return ScalarText(Find(o, {"status", "restoreSize"}));
             }},
            {"DELETIONPOLICY",
             [](const Json& o) {
               return GetString(o, {"spec", "deletionPolicy"});
             }},
            {"DRIVER",
             [](const Json& o) {
               return GetString(o, {"spec", "driver"});
             }},
            {"VOLUMESNAPSHOTCLASS",
             [](const Json& o) {
               return GetString(o, {"spec", "volumeSnapshotClassName"});
             }},
            {"VOLUMESNAPSHOT",
             [](const Json& o) {
               return GetString(o, {"spec", "volumeSnapshotRef", "name"});
             }},
            {"VOLUMESNAPSHOTNAMESPACE",
             [](const Json& o) {
               return GetString(o, {"spec", "volumeSnapshotRef", "namespace"});
             }},
            {"AGE", age}};
  }
  std::vector<Column> group_columns = GroupSnapshotColumns(kind.kind, now_ns);
  if (!group_columns.empty()) return group_columns;
  return {{"AGE", age}};
}

std::string NameCell(const KindInfo& kind, const Json& object, bool with_kind) {
  std::string name = Name(object);
  if (kind.kind == kStorageClass && GetAnnotation(object, kDefaultClassAnnotation) == "true") {
    name += " (default)";
  }
  return with_kind ? kind.Ref(name) : name;
}

}  // namespace

std::string FormatAge(int64_t duration_ns) {
  int64_t seconds = std::max<int64_t>(0, duration_ns / 1000000000);
  if (seconds < 120) return fmt::format("{}s", seconds);
  int64_t minutes = seconds / 60;
  if (minutes < 10)
    return seconds % 60 == 0 ? fmt::format("{}m", minutes)
                             : fmt::format("{}m{}s", minutes, seconds % 60);
  if (minutes < 180) return fmt::format("{}m", minutes);
  int64_t hours = minutes / 60;
  if (hours < 48) return fmt::format("{}h", hours);
  int64_t days = hours / 24;
  if (days < 8 && hours % 24 != 0) return fmt::format("{}d{}h", days, hours % 24);
  if (days < 730) return fmt::format("{}d", days);
  return fmt::format("{}y", days / 365);
}

std::string AccessModesShort(const Json& modes) {
  std::string out;
  for (const Json& mode : modes) {
    std::string text = mode.is_string() ? mode.get<std::string>() : "";
    std::string abbreviation = text == "ReadWriteOnce"      ? "RWO"
                               : text == "ReadOnlyMany"     ? "ROX"
                               : text == "ReadWriteMany"    ? "RWX"
                               : text == "ReadWriteOncePod" ? "RWOP"
                                                            : text;
    out += (out.empty() ? "" : ",") + abbreviation;
  }
  return out;
}

std::string PrintTable(const KindInfo& kind, const std::vector<Json>& objects,
                       const TableOptions& options, int64_t now_ns) {
  std::vector<Column> columns = ColumnsFor(kind, now_ns);
  std::vector<std::string> headers;
  if (options.all_namespaces && kind.namespaced) headers.push_back("NAMESPACE");
  headers.push_back("NAME");
  for (const Column& column : columns) {
    if (!column.wide_only || options.wide) headers.push_back(column.header);
  }
  std::vector<std::vector<std::string>> rows;
  for (const Json& object : objects) {
    std::vector<std::string> row;
    if (options.all_namespaces && kind.namespaced) row.push_back(Namespace(object));
    row.push_back(NameCell(kind, object, options.with_kind));
    for (const Column& column : columns) {
      if (!column.wide_only || options.wide) row.push_back(column.value(object));
    }
    rows.push_back(std::move(row));
  }
  return RenderTable(headers, rows, options.no_headers);
}

std::string PrintEvents(const std::vector<EventRecord>& events, bool all_namespaces,
                        int64_t now_ns) {
  std::vector<std::string> headers;
  if (all_namespaces) headers.push_back("NAMESPACE");
  for (const char* h : {"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}) headers.push_back(h);
  std::vector<std::vector<std::string>> rows;
  for (const EventRecord& event : events) {
    std::vector<std::string> row;
    if (all_namespaces) row.push_back(event.namespace_name);
    const KindInfo* kind = FindKind(event.involved_kind);
    std::string object =
        kind ? fmt::format("{}/{}", kind->singular, event.involved_name) : event.involved_name;
    row.insert(row.end(), {FormatAge(now_ns - event.last_ns), event.type, event.reason, object,
                           event.message});
    rows.push_back(std::move(row));
  }
  return RenderTable(headers, rows, false);
}

std::string PrintYaml(const std::vector<Json>& objects, bool as_list) {
  if (!as_list && objects.size() == 1) return ToYaml(objects.front());
  Json list = {{"apiVersion", "v1"},
               {"kind", "List"},
               {"items", objects},
               {"metadata", {{"resourceVersion", ""}}}};
  return ToYaml(list);
}

std::string PrintJson(const std::vector<Json>& objects, bool as_list) {
  if (!as_list && objects.size() == 1) return objects.front().dump(4) + "\n";
  Json list = {{"apiVersion", "v1"},
               {"kind", "List"},
               {"items", objects},
               {"metadata", {{"resourceVersion", ""}}}};
  return list.dump(4) + "\n";
}

namespace {

class DescribeWriter {
 public:
  void Field(const std::string& label, const std::string& value, int indent = 0) {
    std::string key = std::string(indent, ' ') + label + ":";
    rows_.push_back({key, value});
  }
  void Map(const std::string& label, const Json* map) {
    if (map == nullptr || !map->is_object() || map->empty()) {
      Field(label, "<none>");
      return;
    }
    bool first = true;
    for (const auto& [key, value] : map->items()) {
      std::string text = fmt::format("{}: {}", key, ScalarText(&value));
      if (first) {
        Field(label, text);
        first = false;
      } else {
        rows_.push_back({"", text});
      }
    }
  }
  void Raw(const std::string& line) { rows_.push_back({line, "\x01"}); }
  std::string Render() const {
    size_t width = 0;
    for (const auto& [key, value] : rows_) {
      if (value != "\x01" && key.find('\n') == std::string::npos)
        width = std::max(width, key.size());
    }
    std::string out;
    for (const auto& [key, value] : rows_) {
      if (value == "\x01") {
        out += key + "\n";
      } else if (value.empty()) {
        out += key + "\n";
      } else {
        out += key + std::string(width - key.size() + 2, ' ') + value + "\n";
      }
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
};

std::string Finalizers(const Json& object) {
  const Json* finalizers = Find(object, {"metadata", "finalizers"});
  std::string out = "[";
  if (finalizers != nullptr) {
    bool first = true;
    for (const Json& f : *finalizers) {
      out += (first ? "" : " ") + ScalarText(&f);
      first = false;
    }
  }
  return out + "]";
}

}  // namespace

// Kept in one piece: the common fields, one section per kind, then the
// events, printed top to bottom.
std::string Describe(const Json& object, const std::vector<EventRecord>& events,
                     const std::vector<MountRecord>& mounts, int64_t now_ns) {
  DescribeWriter w;
  std::string kind = Kind(object);
  w.Field("Name", Name(object));
  if (!Namespace(object).empty()) w.Field("Namespace", Namespace(object));
  if (kind == kPersistentVolumeClaim) {
    w.Field("StorageClass", GetString(object, {"spec", "storageClassName"}));
    std::string phase = GetString(object, {"status", "phase"}, "Pending");
    if (IsBeingDeleted(object)) {
      phase = fmt::format(
          "Terminating (lasts {})",
          FormatAge(now_ns - ParseTimestamp(GetString(object, {"metadata", "deletionTimestamp"}))));
    }
    w.Field("Status", phase);
    w.Field("Volume", GetString(object, {"spec", "volumeName"}));
    w.Map("Labels", Find(object, {"metadata", "labels"}));
    w.Map("Annotations", Find(object, {"metadata", "annotations"}));
    w.Field("Finalizers", Finalizers(object));
    w.Field("Capacity", GetString(object, {"status", "capacity", "storage"}));
    const Json* modes = Find(object, {"status", "accessModes"});
    w.Field("Access Modes", modes ? AccessModesShort(*modes) : "");
    w.Field("VolumeMode", GetString(object, {"spec", "volumeMode"}, "Filesystem"));
    const Json* source = Find(object, {"spec", "dataSourceRef"});
    if (source == nullptr) source = Find(object, {"spec", "dataSource"});
    if (source != nullptr && source->is_object()) {
      w.Field("DataSource", "");
      if (!GetString(*source, {"apiGroup"}).empty()) {
        w.Field("APIGroup", GetString(*source, {"apiGroup"}), 2);
      }
      w.Field("Kind", GetString(*source, {"kind"}), 2);
      w.Field("Name", GetString(*source, {"name"}), 2);
      if (!GetString(*source, {"namespace"}).empty()) {
        w.Field("Namespace", GetString(*source, {"namespace"}), 2);
      }
    }
    std::string used;
    for (const MountRecord& mount : mounts) {
      used += (used.empty() ? "" : ", ") + mount.target_path + (mount.read_only ? " (ro)" : "");
    }
    w.Field("Used By", used.empty() ? "<none>" : used);
    const Json* conditions = Find(object, {"status", "conditions"});
    if (conditions != nullptr && conditions->is_array() && !conditions->empty()) {
      w.Field("Conditions", "");
      for (const Json& c : *conditions) {
        w.Raw(fmt::format("  {}  {}  {}", GetString(c, {"type"}), GetString(c, {"status"}),
                          GetString(c, {"message"})));
      }
    }
  } else {
    w.Map("Labels", Find(object, {"metadata", "labels"}));
    w.Map("Annotations", Find(object, {"metadata", "annotations"}));
    if (Find(object, {"metadata", "finalizers"}) != nullptr)
      w.Field("Finalizers", Finalizers(object));
    if (IsBeingDeleted(object)) w.Field("Status", "Terminating");
    Json rest = object;
    rest.erase("metadata");
    rest.erase("apiVersion");
    rest.erase("kind");
    std::string body = rest.empty() ? "" : ToYaml(rest);
    size_t start = 0;
    while (start < body.size()) {
      size_t end = body.find('\n', start);
      if (end == std::string::npos) end = body.size();
      w.Raw(body.substr(start, end - start));
      start = end + 1;
    }
  }
  std::string out = w.Render();
  if (events.empty()) {
    out += "Events:        <none>\n";
  } else {
    out += "Events:\n";
    std::vector<std::string> headers = {"  Type", "Reason", "Age", "From", "Message"};
    std::vector<std::vector<std::string>> rows = {{"  ----", "------", "----", "----", "-------"}};
    for (const EventRecord& event : events) {
      std::string age = event.count > 1
                            ? fmt::format("{} (x{} over {})", FormatAge(now_ns - event.last_ns),
                                          event.count, FormatAge(now_ns - event.first_ns))
                            : FormatAge(now_ns - event.first_ns);
      rows.push_back({"  " + event.type, event.reason, age, event.source, event.message});
    }
    out += RenderTable(headers, rows, false);
  }
  return out;
}

}  // namespace ditto::control
