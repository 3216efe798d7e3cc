#include "control/api/yaml_io.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>

#include "fmt/format.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace ditto::control {
namespace {

using nlohmann::json;

// Limits on hostile input. The API server refuses requests over 3 MiB; an
// apply file may hold many objects, so allow more, but not unbounded
// memory: 16 MiB of text, and at most 100000 values per document after
// aliases are expanded (a "billion laughs" file of a few hundred bytes
// expands to 10^9).
constexpr size_t kMaxInputBytes = size_t{16} << 20;
constexpr size_t kMaxValues = 100'000;
// yaml-cpp holds every document of a stream at once: bound their number.
constexpr size_t kMaxDocuments = 10'000;

// Sees every parse event and keeps none: counts documents before they are
// built. yaml-cpp 0.7 never reaches the end of some malformed streams (a lone
// "," yields one empty document after another without consuming it), so
// LoadAll runs only once this pass has reached the end.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Lines starting a document ("---") or ending one ("..."); an upper bound of
// the number of documents, without parsing.
size_t DocumentMarkers(std::string_view text) {
  size_t count = 0;
  for (size_t at = 0; at < text.size();) {
    if (text.compare(at, 3, "---") == 0 || text.compare(at, 3, "...") == 0) ++count;
    size_t newline = text.find('\n', at);
    if (newline == std::string_view::npos) break;
    at = newline + 1;
  }
  return count;
}

// Offset of the first byte that is not part of valid UTF-8, or npos.
size_t InvalidUtf8At(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xe  ? 3
                    : (c >> 3) == 0x1e ? 4
                                       : 0;
    if (length == 0 || i + length > text.size()) return i;
    uint32_t code = length == 1 ? c : c & (0x7f >> length);
    for (size_t k = 1; k < length; ++k) {
      unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next >> 6) != 0x2) return i;
      code = (code << 6) | (next & 0x3f);
    }
    bool overlong = (length == 2 && code < 0x80) || (length == 3 && code < 0x800) ||
                    (length == 4 && code < 0x10000);
    if (overlong || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return i;
    i += length;
  }
  return std::string_view::npos;
}

SourcePosition PositionFromMark(std::string_view file, const YAML::Mark& mark) {
  SourcePosition position;
  position.file = std::string(file);
  if (mark.line >= 0) {
    position.line = mark.line + 1;
    position.column = mark.column + 1;
  }
  return position;
}

const std::regex& IntegerPattern() {
  static const std::regex pattern("[-+]?[0-9]+");
  return pattern;
}
const std::regex& FloatPattern() {
  static const std::regex pattern("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  return pattern;
}

// YAML 1.2 core schema resolution of a plain scalar.
json ResolvePlain(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (std::regex_match(text, IntegerPattern())) {
    errno = 0;
    char* end = nullptr;
    long long value = std::strtoll(text.c_str(), &end, 10);
    if (errno == 0 && *end == '\0') return value;
    return text;  // too large for int64: keep the digits as written
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o')) {
    char* end = nullptr;
    long long value = std::strtoll(text.c_str() + 2, &end, text[1] == 'x' ? 16 : 8);
    if (*end == '\0') return value;
  }
  if (std::regex_match(text, FloatPattern())) return std::strtod(text.c_str(), nullptr);
  if (text == ".inf" || text == ".Inf" || text == ".INF" || text == "+.inf") return HUGE_VAL;
  if (text == "-.inf" || text == "-.Inf" || text == "-.INF") return -HUGE_VAL;
  return text;
}

class Converter {
 public:
  explicit Converter(Document* document) : document_(document) {}

  Status Convert(const YAML::Node& node, const std::string& pointer, json* out) {
    if (++values_ > kMaxValues) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: yaml: the document expands to more than {} values (aliases repeating anchors?); "
          "write the objects out without such aliases",
          PositionFromMark(document_->file, node.Mark()).ToString(), kMaxValues));
    }
    document_->positions[pointer] = PositionFromMark(document_->file, node.Mark());
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        *out = nullptr;
        return absl::OkStatus();
      case YAML::NodeType::Scalar: {
        // Escapes ("\ud800") can make text that is not UTF-8 from valid input.
        if (InvalidUtf8At(node.Scalar()) != std::string_view::npos) {
          return absl::InvalidArgumentError(
              fmt::format("{}: yaml: the value is not valid UTF-8 (an escape such as \\ud800?)",
                          PositionFromMark(document_->file, node.Mark()).ToString()));
        }
        const std::string& tag = node.Tag();
        if (tag == "!" || tag == "tag:yaml.org,2002:str") {
          *out = node.Scalar();
        } else {
          *out = ResolvePlain(node.Scalar());
          // JSON (and so the API) has no infinity or NaN.
          if (out->is_number_float() && !std::isfinite(out->get<double>())) {
            return absl::InvalidArgumentError(fmt::format(
                "{}: yaml: {} is not a number JSON can hold; quote it to mean the string",
                PositionFromMark(document_->file, node.Mark()).ToString(), node.Scalar()));
          }
        }
        return absl::OkStatus();
      }
      case YAML::NodeType::Sequence: {
        *out = json::array();
        size_t index = 0;
        for (const YAML::Node& item : node) {
          json value;
          RETURN_IF_ERROR(Convert(item, fmt::format("{}/{}", pointer, index++), &value));
          out->push_back(std::move(value));
        }
        return absl::OkStatus();
      }
      case YAML::NodeType::Map: {
        *out = json::object();
        for (auto it = node.begin(); it != node.end(); ++it) {
          SourcePosition key_position = PositionFromMark(document_->file, it->first.Mark());
          if (!it->first.IsScalar()) {
            return absl::InvalidArgumentError(
                fmt::format("{}: yaml: mapping keys must be strings", key_position.ToString()));
          }
          const std::string& key = it->first.Scalar();
          if (InvalidUtf8At(key) != std::string_view::npos) {
            return absl::InvalidArgumentError(
                fmt::format("{}: yaml: the key is not valid UTF-8 (an escape such as \\ud800?)",
                            key_position.ToString()));
          }
          if (out->contains(key)) {
            return absl::InvalidArgumentError(
                fmt::format("{}: yaml: duplicate key \"{}\"; remove one of them",
                            key_position.ToString(), key));
          }
          std::string child = pointer + "/" + PointerToken(key);
          document_->positions[child + "#key"] = key_position;
          json value;
          RETURN_IF_ERROR(Convert(it->second, child, &value));
          // Keep the key's position for the value when the value is null
          // (yaml-cpp gives null nodes no useful mark).
          if (value.is_null()) document_->positions[child] = key_position;
          (*out)[key] = std::move(value);
        }
        return absl::OkStatus();
      }
    }
    return absl::OkStatus();
  }

 private:
  Document* document_;
  size_t values_ = 0;
};

bool NeedsQuotes(const std::string& text) {
  if (text.empty()) return true;
  json resolved = ResolvePlain(text);
  if (!resolved.is_string()) return true;
  // Leading/trailing spaces and YAML 1.1 booleans other readers may take.
  static const std::set<std::string> kAmbiguous = {"y",  "Y",   "yes", "Yes", "YES", "n",
                                                   "N",  "no",  "No",  "NO",  "on",  "On",
                                                   "ON", "off", "Off", "OFF"};
  // Control characters (a "\r" a reader takes for a line end, tabs).
  bool control = std::any_of(text.begin(), text.end(),
                             [](char c) { return static_cast<unsigned char>(c) < 0x20; });
  // "---" and "..." at a line start are document markers.
  bool marker = text.rfind("---", 0) == 0 || text.rfind("...", 0) == 0;
  return kAmbiguous.count(text) > 0 || text.front() == ' ' || text.back() == ' ' || control ||
         marker;
}

void Emit(YAML::Emitter& out, const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        // A plain key may be at most 1024 characters once printed (escapes
        // included); a longer one needs the explicit "? key" form.
        if (key.size() > 200) out << YAML::LongKey;
        out << YAML::Key;
        if (NeedsQuotes(key)) out << YAML::DoubleQuoted;
        out << key << YAML::Value;
        Emit(out, item);
      }
      out << YAML::EndMap;
      return;
    case json::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const json& item : value) Emit(out, item);
      out << YAML::EndSeq;
      return;
    case json::value_t::string: {
      const std::string& text = value.get_ref<const std::string&>();
      if (NeedsQuotes(text)) out << YAML::DoubleQuoted;
      out << text;
      return;
    }
    case json::value_t::boolean:
      out << (value.get<bool>() ? "true" : "false");
      return;
    case json::value_t::number_integer:
      out << value.get<int64_t>();
      return;
    case json::value_t::number_unsigned:
      out << value.get<uint64_t>();
      return;
    case json::value_t::number_float:
      out << value.dump();
      return;
    case json::value_t::null:
    default:
      out << YAML::Null;
      return;
  }
}

// YAML indents with spaces only; a tab in the indentation up to the line
// of a parse error (0-based `error_line`) is most likely its cause.
std::string TabHint(std::string_view text, int error_line) {
  int line = 0;
  for (size_t at = 0; at < text.size() && line <= error_line + 1; ++line) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    for (size_t i = at; i < end && (text[i] == ' ' || text[i] == '\t'); ++i) {
      if (text[i] == '\t') {
        return fmt::format(
            " (line {} column {} indents with a tab: YAML indents with spaces only, replace the "
            "tab with spaces)",
            line + 1, i - at + 1);
      }
    }
    at = end + 1;
  }
  return "";
}

}  // namespace

std::string SourcePosition::ToString() const {
  if (line <= 0) return file;
  return fmt::format("{}:{}:{}", file, line, column);
}

SourcePosition Document::PositionOf(const std::string& pointer) const {
  std::string current = pointer;
  while (true) {
    auto it = positions.find(current);
    if (it != positions.end()) return it->second;
    if (current.empty()) break;
    size_t slash = current.rfind('/');
    current = slash == std::string::npos ? std::string() : current.substr(0, slash);
  }
  SourcePosition position;
  position.file = file;
  return position;
}

std::string PointerToken(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

StatusOr<std::vector<Document>> ParseYaml(std::string_view text, std::string_view file) {
  if (text.size() > kMaxInputBytes) {
    return absl::InvalidArgumentError(
        fmt::format("{}: the input is {} bytes, more than the {} MiB accepted; split it into "
                    "several files",
                    file, text.size(), kMaxInputBytes >> 20));
  }
  if (size_t bad = InvalidUtf8At(text); bad != std::string_view::npos) {
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + bad, '\n'));
    size_t line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
    int column =
        static_cast<int>(bad -
                         (line_start == std::string_view::npos || bad == 0 ? 0 : line_start + 1)) +
        1;
    return absl::InvalidArgumentError(
        fmt::format("{}: yaml: byte {:#04x} is not valid UTF-8; save the file as UTF-8",
                    SourcePosition{std::string(file), line, column}.ToString(),
                    static_cast<unsigned char>(text[bad])));
  }
  if (size_t markers = DocumentMarkers(text); markers > kMaxDocuments) {
    return absl::InvalidArgumentError(
        fmt::format("{}: the input has {} document markers (---), more than the {} accepted; "
                    "split it into several files",
                    file, markers, kMaxDocuments));
  }
  std::vector<YAML::Node> nodes;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    DocumentCounter counter;
    for (size_t documents = 0; parser.HandleNextDocument(counter);) {
      if (++documents > kMaxDocuments) {
        return absl::InvalidArgumentError(fmt::format(
            "{}: yaml: more than {} documents, or a stray character (such as a lone \",\") the "
            "parser cannot get past; split the file or fix its syntax",
            file, kMaxDocuments));
      }
    }
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(fmt::format("{}: yaml: {}{}",
                                                  PositionFromMark(file, error.mark).ToString(),
                                                  error.msg, TabHint(text, error.mark.line)));
  }
  std::vector<Document> documents;
  int index = 0;
  for (const YAML::Node& node : nodes) {
    Document document;
    document.file = std::string(file);
    document.index = index++;
    if (node.IsNull() || !node.IsDefined()) continue;
    if (!node.IsMap()) {
      return absl::InvalidArgumentError(
          fmt::format("{}: document {} is not a mapping; every document must be one object "
                      "with apiVersion, kind and metadata",
                      PositionFromMark(file, node.Mark()).ToString(), document.index + 1));
    }
    Converter converter(&document);
    try {
      RETURN_IF_ERROR(converter.Convert(node, "", &document.object));
    } catch (const YAML::Exception& error) {
      return absl::InvalidArgumentError(
          fmt::format("{}: yaml: {}", PositionFromMark(file, error.mark).ToString(), error.msg));
    }
    documents.push_back(std::move(document));
  }
  return documents;
}

std::string ToYaml(const nlohmann::json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  Emit(out, value);
  std::string text = out.c_str();
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

}  // namespace ditto::control
