#include "cli/kubectl/output_format.h"

#include <algorithm>

#include "common/quantity.h"
#include "fmt/format.h"

namespace ditto::cli {

using control::Json;
using control::JsonPath;

StatusOr<OutputFormat> ParseOutputFormat(const std::string& text) {
  OutputFormat format;
  if (text.empty()) return format;
  if (text == "wide") format.type = OutputFormat::kWide;
  else if (text == "yaml") format.type = OutputFormat::kYaml;
  else if (text == "json") format.type = OutputFormat::kJson;
  else if (text == "name") format.type = OutputFormat::kName;
  if (format.type != OutputFormat::kTable) return format;
  size_t eq = text.find('=');
  std::string name = text.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : text.substr(eq + 1);
  if (name == "jsonpath" || name == "jsonpath-as-json") {
    if (value.empty()) {
      return absl::InvalidArgumentError(
          "template format specified but no template given; use -o jsonpath='{.metadata.name}'");
    }
    format.type = OutputFormat::kJsonPath;
    ASSIGN_OR_RETURN(format.template_, JsonPath::Parse(value));
    return format;
  }
  if (name == "custom-columns") {
    if (value.empty()) {
      return absl::InvalidArgumentError(
          "custom-columns format specified but no custom columns given; use -o "
          "custom-columns=NAME:.metadata.name,PHASE:.status.phase");
    }
    format.type = OutputFormat::kCustomColumns;
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      std::string spec = value.substr(start, comma - start);
      size_t colon = spec.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size()) {
        return absl::InvalidArgumentError(fmt::format(
            "unexpected custom-columns spec: {}, expected <header>:<json-path-expr>", spec));
      }
      ASSIGN_OR_RETURN(JsonPath path, JsonPath::ParseRelaxed(spec.substr(colon + 1)));
      format.columns.emplace_back(spec.substr(0, colon), std::move(path));
      start = comma + 1;
    }
    return format;
  }
  return absl::InvalidArgumentError(fmt::format(
      "unable to match a printer suitable for the output format \"{}\", allowed formats are: "
      "custom-columns,json,jsonpath,name,wide,yaml",
      text));
}

std::string PrintCustomColumns(const OutputFormat& format, const std::vector<Json>& objects,
                               bool no_headers) {
  std::vector<std::vector<std::string>> rows;
  if (!no_headers) {
    std::vector<std::string> header;
    for (const auto& [name, path] : format.columns) header.push_back(name);
    rows.push_back(header);
  }
  for (const Json& object : objects) {
    std::vector<std::string> row;
    for (const auto& [name, path] : format.columns) {
      std::vector<Json> values = path.Values(object);
      std::string cell;
      for (const Json& value : values) {
        cell += (cell.empty() ? "" : ",") + control::JsonPathText(value);
      }
      row.push_back(values.empty() ? "<none>" : cell);
    }
    rows.push_back(row);
  }
  std::vector<size_t> widths(format.columns.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    out += line + "\n";
  }
  return out;
}

Status SortObjects(const std::string& path_text, std::vector<Json>* objects) {
  ASSIGN_OR_RETURN(JsonPath path, JsonPath::ParseRelaxed(path_text));
  struct Key {
    bool present = false;
    bool numeric = false;
    double number = 0;
    std::string text;
  };
  std::vector<std::pair<Key, Json>> keyed;
  for (Json& object : *objects) {
    Key key;
    std::vector<Json> values = path.Values(object);
    if (!values.empty()) {
      key.present = true;
      const Json& value = values[0];
      if (value.is_number()) {
        key.numeric = true;
        key.number = value.get<double>();
      } else {
        key.text = control::JsonPathText(value);
        auto quantity = ParseQuantity(key.text);
        if (value.is_string() && quantity.ok() && !key.text.empty() &&
            std::isdigit(static_cast<unsigned char>(key.text[0]))) {
          key.numeric = true;
          key.number = static_cast<double>(*quantity);
        }
      }
    }
    keyed.emplace_back(key, std::move(object));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    if (a.first.present != b.first.present) return !a.first.present;
    if (a.first.numeric && b.first.numeric) return a.first.number < b.first.number;
    if (a.first.numeric != b.first.numeric) return a.first.numeric;
    return a.first.text < b.first.text;
  });
  objects->clear();
  for (auto& [key, object] : keyed) objects->push_back(std::move(object));
  return absl::OkStatus();
}

}  // namespace ditto::cli
