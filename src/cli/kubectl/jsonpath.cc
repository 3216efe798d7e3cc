#include "cli/kubectl/jsonpath.h"

#include <cctype>

#include "fmt/format.h"

namespace ditto::control {

namespace {

struct Step {
  enum Type { kField, kRecursive, kIndex, kSlice, kWildcard, kFilter } type = kField;
  std::string name;  // kField/kRecursive ("*" = every child)
  int64_t index = 0;
  bool has_start = false, has_end = false;
  int64_t start = 0, end = 0;
  // kFilter: @-relative path, operator ("" = presence), literal or path.
  std::vector<Step> lhs;
  std::string op;
  Json literal;
  bool rhs_is_path = false;
  std::vector<Step> rhs;
};

using Path = std::vector<Step>;

Status Error(std::string_view text, size_t at, const std::string& why) {
  return absl::InvalidArgumentError(fmt::format(
      "error parsing jsonpath {}: {} at position {}; see "
      "https://kubernetes.io/docs/reference/kubectl/jsonpath/ for the syntax",
      text, why, at + 1));
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '*' ||
         c == '/';
}

class PathParser {
 public:
  PathParser(std::string_view text, std::string_view whole, size_t offset)
      : text_(text), whole_(whole), offset_(offset) {}

  StatusOr<Path> ParsePath() {
    Path path;
    SkipSpaces();
    if (pos_ < text_.size() && (text_[pos_] == '$' || text_[pos_] == '@')) ++pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '.' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '.') {
        pos_ += 2;
        Step step;
        step.type = Step::kRecursive;
        step.name = ReadName();
        if (step.name.empty()) return Fail("expected a field name after ..");
        path.push_back(step);
      } else if (c == '.') {
        ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '[') continue;
        Step step;
        step.name = ReadName();
        if (step.name.empty()) {
          if (pos_ >= text_.size() || !IsStop(text_[pos_])) return Fail("expected a field name");
          continue;  // "." alone: the current object
        }
        if (step.name == "*") step.type = Step::kWildcard;
        path.push_back(step);
      } else if (c == '[') {
        ASSIGN_OR_RETURN(Step step, ParseBracket());
        path.push_back(step);
      } else if (IsNameChar(c) && path.empty()) {
        Step step;
        step.name = ReadName();
        path.push_back(step);
      } else {
        break;
      }
    }
    return path;
  }

  size_t pos() const { return pos_; }
  bool AtEnd() {
    SkipSpaces();
    return pos_ >= text_.size();
  }
  Status Fail(const std::string& why) const { return Error(whole_, offset_ + pos_, why); }

 private:
  static bool IsStop(char c) { return c == ' ' || c == ')' || c == '=' || c == '!' || c == '<' || c == '>'; }

  void SkipSpaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }

  std::string ReadName() {
    size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  StatusOr<std::string> ReadQuoted() {
    char quote = text_[pos_++];
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      out += text_[pos_++];
    }
    if (pos_ >= text_.size()) return Fail("unterminated string");
    ++pos_;
    return out;
  }

  StatusOr<int64_t> ReadInt() {
    size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    if (pos_ == start || (pos_ == start + 1 && text_[start] == '-')) return Fail("expected a number");
    return std::stoll(std::string(text_.substr(start, pos_ - start)));
  }

  StatusOr<Step> ParseBracket() {
    ++pos_;  // '['
    Step step;
    SkipSpaces();
    if (pos_ >= text_.size()) return Fail("unterminated [");
    char c = text_[pos_];
    if (c == '*') {
      ++pos_;
      step.type = Step::kWildcard;
    } else if (c == '\'' || c == '"') {
      ASSIGN_OR_RETURN(step.name, ReadQuoted());
      step.type = Step::kField;
    } else if (c == '?') {
      ++pos_;
      SkipSpaces();
      if (pos_ >= text_.size() || text_[pos_] != '(') return Fail("expected ( after ?");
      ++pos_;
      step.type = Step::kFilter;
      ASSIGN_OR_RETURN(step.lhs, ParsePath());
      SkipSpaces();
      static const char* kOps[] = {"==", "!=", "<=", ">=", "<", ">"};
      for (const char* op : kOps) {
        if (text_.substr(pos_).starts_with(op)) {
          step.op = op;
          pos_ += std::string_view(op).size();
          break;
        }
      }
      if (!step.op.empty()) {
        SkipSpaces();
        if (pos_ >= text_.size()) return Fail("expected a value to compare with");
        char v = text_[pos_];
        if (v == '\'' || v == '"') {
          ASSIGN_OR_RETURN(std::string s, ReadQuoted());
          step.literal = s;
        } else if (v == '@' || v == '$') {
          step.rhs_is_path = true;
          ASSIGN_OR_RETURN(step.rhs, ParsePath());
        } else if (text_.substr(pos_).starts_with("true")) {
          step.literal = true;
          pos_ += 4;
        } else if (text_.substr(pos_).starts_with("false")) {
          step.literal = false;
          pos_ += 5;
        } else {
          size_t start = pos_;
          while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) ||
                                         text_[pos_] == '.' || text_[pos_] == '-')) {
            ++pos_;
          }
          if (start == pos_) return Fail("expected a quoted string, a number or a path");
          step.literal = std::stod(std::string(text_.substr(start, pos_ - start)));
        }
      }
      SkipSpaces();
      if (pos_ >= text_.size() || text_[pos_] != ')') return Fail("expected ) to close the filter");
      ++pos_;
    } else {
      if (c == ':') {
        step.type = Step::kSlice;
      } else {
        ASSIGN_OR_RETURN(step.index, ReadInt());
        step.type = Step::kIndex;
      }
      SkipSpaces();
      if (pos_ < text_.size() && text_[pos_] == ':') {
        if (step.type == Step::kIndex) {
          step.has_start = true;
          step.start = step.index;
        }
        step.type = Step::kSlice;
        ++pos_;
        SkipSpaces();
        if (pos_ < text_.size() && text_[pos_] != ']') {
          ASSIGN_OR_RETURN(step.end, ReadInt());
          step.has_end = true;
        }
      }
    }
    SkipSpaces();
    if (pos_ >= text_.size() || text_[pos_] != ']') return Fail("expected ]");
    ++pos_;
    return step;
  }

  std::string_view text_;
  std::string_view whole_;
  size_t offset_;
  size_t pos_ = 0;
};

void Recurse(const Json& value, const std::string& name, std::vector<Json>* out) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      if (name == "*" || key == name) out->push_back(child);
    }
    for (const auto& [key, child] : value.items()) Recurse(child, name, out);
  } else if (value.is_array()) {
    for (const Json& child : value) {
      if (name == "*") out->push_back(child);
      Recurse(child, name, out);
    }
  }
}

std::vector<Json> Evaluate(const Path& path, const Json& root, const Json& current);

bool Compare(const Json& left, const std::string& op, const Json& right) {
  if (left.is_number() && right.is_number()) {
    double a = left.get<double>(), b = right.get<double>();
    if (op == "==") return a == b;
    if (op == "!=") return a != b;
    if (op == "<") return a < b;
    if (op == "<=") return a <= b;
    if (op == ">") return a > b;
    if (op == ">=") return a >= b;
    return false;
  }
  std::string a = JsonPathText(left), b = JsonPathText(right);
  if (op == "==") return a == b;
  if (op == "!=") return a != b;
  if (op == "<") return a < b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  if (op == ">=") return a >= b;
  return false;
}

bool FilterMatches(const Step& step, const Json& root, const Json& item) {
  std::vector<Json> left = Evaluate(step.lhs, root, item);
  if (step.op.empty()) {
    return !left.empty() && !(left.size() == 1 && (left[0].is_null() || left[0] == false));
  }
  std::vector<Json> right = step.rhs_is_path ? Evaluate(step.rhs, root, item)
                                             : std::vector<Json>{step.literal};
  if (left.empty() || right.empty()) return step.op == "!=" && left.empty() != right.empty();
  return Compare(left[0], step.op, right[0]);
}

std::vector<Json> Evaluate(const Path& path, const Json& root, const Json& current) {
  std::vector<Json> values = {current};
  for (const Step& step : path) {
    std::vector<Json> next;
    for (const Json& value : values) {
      switch (step.type) {
        case Step::kField:
          if (value.is_object() && value.contains(step.name)) next.push_back(value[step.name]);
          break;
        case Step::kRecursive:
          Recurse(value, step.name, &next);
          break;
        case Step::kWildcard:
          if (value.is_object() || value.is_array()) {
            for (const Json& child : value) next.push_back(child);
          }
          break;
        case Step::kIndex:
          if (value.is_array()) {
            int64_t size = static_cast<int64_t>(value.size());
            int64_t i = step.index < 0 ? size + step.index : step.index;
            if (i >= 0 && i < size) next.push_back(value[static_cast<size_t>(i)]);
          }
          break;
        case Step::kSlice:
          if (value.is_array()) {
            int64_t size = static_cast<int64_t>(value.size());
            int64_t start = step.has_start ? step.start : 0;
            int64_t end = step.has_end ? step.end : size;
            if (start < 0) start += size;
            if (end < 0) end += size;
            start = std::clamp<int64_t>(start, 0, size);
            end = std::clamp<int64_t>(end, 0, size);
            for (int64_t i = start; i < end; ++i) next.push_back(value[static_cast<size_t>(i)]);
          }
          break;
        case Step::kFilter:
          if (value.is_array()) {
            for (const Json& item : value) {
              if (FilterMatches(step, root, item)) next.push_back(item);
            }
          } else if (value.is_object() && FilterMatches(step, root, value)) {
            next.push_back(value);
          }
          break;
      }
    }
    values = std::move(next);
  }
  return values;
}

}  // namespace

struct JsonPath::Node {
  enum Type { kText, kPath, kRange } type = kText;
  std::string text;
  Path path;
  std::vector<std::shared_ptr<Node>> body;  // kRange
};

namespace {

using NodeList = std::vector<std::shared_ptr<JsonPath::Node>>;

std::string Unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      char c = text[++i];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
    } else {
      out += text[i];
    }
  }
  return out;
}

void Run(const NodeList& nodes, const Json& root, const Json& current, std::string* out,
         std::vector<Json>* values) {
  for (const auto& node : nodes) {
    switch (node->type) {
      case JsonPath::Node::kText:
        if (out) *out += node->text;
        break;
      case JsonPath::Node::kPath: {
        std::vector<Json> selected = Evaluate(node->path, root, current);
        for (size_t i = 0; i < selected.size(); ++i) {
          if (out) *out += (i > 0 ? " " : "") + JsonPathText(selected[i]);
          if (values) values->push_back(selected[i]);
        }
        break;
      }
      case JsonPath::Node::kRange:
        for (const Json& item : Evaluate(node->path, root, current)) {
          if (item.is_array() && !node->path.empty() &&
              node->path.back().type != Step::kWildcard) {
            for (const Json& element : item) Run(node->body, root, element, out, values);
          } else {
            Run(node->body, root, item, out, values);
          }
        }
        break;
    }
  }
}

}  // namespace

std::string JsonPathText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

StatusOr<JsonPath> JsonPath::Parse(std::string_view text) {
  JsonPath result;
  std::vector<NodeList*> stack = {&result.nodes_};
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find('{', pos);
    if (open == std::string_view::npos) open = text.size();
    if (open > pos) {
      auto node = std::make_shared<Node>();
      node->text = std::string(text.substr(pos, open - pos));
      stack.back()->push_back(node);
    }
    if (open >= text.size()) break;
    // The matching '}', skipping quoted strings.
    size_t close = open + 1;
    char quote = 0;
    for (; close < text.size(); ++close) {
      char c = text[close];
      if (quote) {
        if (c == '\\') ++close;
        else if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '}') {
        break;
      }
    }
    if (close >= text.size()) return Error(text, open, "unclosed action {");
    std::string_view inside = text.substr(open + 1, close - open - 1);
    while (!inside.empty() && inside.front() == ' ') inside.remove_prefix(1);
    while (!inside.empty() && inside.back() == ' ') inside.remove_suffix(1);
    size_t offset = open + 1;
    if (inside == "end") {
      if (stack.size() == 1) return Error(text, open, "{end} without {range ...}");
      stack.pop_back();
    } else if (inside.starts_with("range ") || inside.starts_with("range\t")) {
      PathParser parser(inside.substr(6), text, offset + 6);
      auto node = std::make_shared<Node>();
      node->type = Node::kRange;
      ASSIGN_OR_RETURN(node->path, parser.ParsePath());
      if (!parser.AtEnd()) return parser.Fail("unexpected text after the range path");
      stack.back()->push_back(node);
      stack.push_back(&node->body);
    } else if (!inside.empty() && (inside.front() == '"' || inside.front() == '\'')) {
      if (inside.size() < 2 || inside.back() != inside.front()) {
        return Error(text, open, "unterminated string literal");
      }
      auto node = std::make_shared<Node>();
      node->text = Unescape(inside.substr(1, inside.size() - 2));
      stack.back()->push_back(node);
    } else if (inside.empty()) {
      return Error(text, open, "empty action {}");
    } else {
      PathParser parser(inside, text, offset);
      auto node = std::make_shared<Node>();
      node->type = Node::kPath;
      ASSIGN_OR_RETURN(node->path, parser.ParsePath());
      if (!parser.AtEnd()) return parser.Fail("unexpected character");
      stack.back()->push_back(node);
    }
    pos = close + 1;
  }
  if (stack.size() > 1) return Error(text, text.size(), "{range ...} without {end}");
  return result;
}

StatusOr<JsonPath> JsonPath::ParseRelaxed(std::string_view text) {
  std::string expression(text);
  if (expression.size() >= 2 && expression.front() == '{' && expression.back() == '}') {
    expression = expression.substr(1, expression.size() - 2);
  }
  if (!expression.empty() && expression[0] != '.' && expression[0] != '[' &&
      expression[0] != '$') {
    expression = "." + expression;
  }
  return Parse("{" + expression + "}");
}

std::string JsonPath::Execute(const Json& input) const {
  std::string out;
  Run(nodes_, input, input, &out, nullptr);
  return out;
}

std::vector<Json> JsonPath::Values(const Json& input) const {
  std::vector<Json> values;
  Run(nodes_, input, input, nullptr, &values);
  return values;
}

}  // namespace ditto::control
