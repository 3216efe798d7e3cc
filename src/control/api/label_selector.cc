#include "control/api/label_selector.h"

#include <algorithm>
#include <cctype>

#include "fmt/format.h"

namespace ditto::control {
namespace {

constexpr char kForms[] =
    "use KEY=VALUE, KEY==VALUE, KEY!=VALUE, 'KEY in (A,B)', 'KEY notin (A,B)', KEY or !KEY, "
    "joined by commas";

std::string Trim(std::string_view text) {
  size_t start = 0;
  size_t end = text.size();
  while (start < end && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  while (end > start && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(start, end - start));
}

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// A "name" part: at most 63 characters of [A-Za-z0-9._-], alphanumeric at
// both ends.
bool IsQualifiedName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!IsAlnum(name.front()) || !IsAlnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool IsDnsSubdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (!IsAlnum(name.front()) || !IsAlnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
           c == '-' || c == '.';
  });
}

// Splits at commas outside parentheses.
std::vector<std::string> SplitTerms(std::string_view text) {
  std::vector<std::string> terms;
  int depth = 0;
  std::string current;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      terms.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  terms.push_back(current);
  return terms;
}

}  // namespace

std::string LabelKeyError(std::string_view key) {
  size_t slash = key.find('/');
  std::string_view name = key;
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!IsDnsSubdomain(prefix)) {
      return fmt::format("the prefix of label key \"{}\" must be a DNS subdomain (example.com)",
                         key);
    }
  }
  if (!IsQualifiedName(name)) {
    return fmt::format(
        "label key \"{}\" is invalid: a name of at most 63 characters of letters, digits, '-', "
        "'_' and '.', starting and ending with a letter or digit, optionally prefixed by a DNS "
        "subdomain and '/'",
        key);
  }
  return "";
}

std::string LabelValueError(std::string_view value) {
  if (value.empty() || IsQualifiedName(value)) return "";
  return fmt::format(
      "label value \"{}\" is invalid: at most 63 characters of letters, digits, '-', '_' and '.', "
      "starting and ending with a letter or digit (or empty)",
      value);
}

StatusOr<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector selector;
  if (Trim(text).empty()) return selector;
  for (const std::string& raw : SplitTerms(text)) {
    std::string term = Trim(raw);
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(fmt::format(
          "unable to parse requirement \"{}\" of selector \"{}\": {}; {}", term, text, why, kForms));
    };
    if (term.empty()) return bad("empty term");
    Requirement requirement;
    size_t open = term.find('(');
    if (open != std::string::npos) {
      if (term.back() != ')') return bad("a set must end with ')'");
      std::string head = Trim(term.substr(0, open));
      size_t space = head.find_last_of(" \t");
      if (space == std::string::npos) return bad("expected KEY in (...) or KEY notin (...)");
      std::string op = head.substr(space + 1);
      requirement.key = Trim(head.substr(0, space));
      if (op == "in") {
        requirement.op = Op::kIn;
      } else if (op == "notin") {
        requirement.op = Op::kNotIn;
      } else {
        return bad(fmt::format("unknown set operator \"{}\"", op));
      }
      std::string inside = term.substr(open + 1, term.size() - open - 2);
      for (const std::string& value : SplitTerms(inside)) {
        std::string v = Trim(value);
        if (std::string why = LabelValueError(v); !why.empty()) return bad(why);
        requirement.values.push_back(v);
      }
      if (requirement.values.size() == 1 && requirement.values[0].empty()) {
        return bad("a set needs at least one value");
      }
    } else if (term[0] == '!') {
      requirement.key = Trim(term.substr(1));
      requirement.op = Op::kDoesNotExist;
    } else if (size_t ne = term.find("!="); ne != std::string::npos) {
      requirement.key = Trim(term.substr(0, ne));
      requirement.op = Op::kNotEquals;
      requirement.values = {Trim(term.substr(ne + 2))};
    } else if (size_t eq = term.find('='); eq != std::string::npos) {
      requirement.key = Trim(term.substr(0, eq));
      requirement.op = Op::kEquals;
      size_t skip = term.compare(eq, 2, "==") == 0 ? 2 : 1;
      requirement.values = {Trim(term.substr(eq + skip))};
    } else {
      requirement.key = term;
      requirement.op = Op::kExists;
    }
    if (std::string why = LabelKeyError(requirement.key); !why.empty()) return bad(why);
    for (const std::string& value : requirement.values) {
      if (value.find_first_of("=!()") != std::string::npos) {
        return bad(fmt::format("unexpected characters in value \"{}\"", value));
      }
      if (std::string why = LabelValueError(value); !why.empty()) return bad(why);
    }
    selector.requirements_.push_back(std::move(requirement));
  }
  return selector;
}

StatusOr<LabelSelector> LabelSelector::FromJson(const Json& json, std::string_view field) {
  LabelSelector selector;
  if (json.is_null()) return selector;
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        fmt::format("{} must be an object with matchLabels and/or matchExpressions", field));
  }
  for (const auto& [key, value] : json.items()) {
    if (key != "matchLabels" && key != "matchExpressions") {
      return absl::InvalidArgumentError(fmt::format(
          "{}.{} is not a selector field; use matchLabels and/or matchExpressions", field, key));
    }
  }
  const Json labels = json.value("matchLabels", Json::object());
  if (!labels.is_object()) {
    return absl::InvalidArgumentError(fmt::format("{}.matchLabels must map keys to values", field));
  }
  for (const auto& [key, value] : labels.items()) {
    if (!value.is_string()) {
      return absl::InvalidArgumentError(
          fmt::format("{}.matchLabels.{} must be a string", field, key));
    }
    std::string why = LabelKeyError(key);
    if (why.empty()) why = LabelValueError(value.get<std::string>());
    if (!why.empty()) return absl::InvalidArgumentError(fmt::format("{}.matchLabels: {}", field, why));
    selector.requirements_.push_back({key, Op::kEquals, {value.get<std::string>()}});
  }
  const Json expressions = json.value("matchExpressions", Json::array());
  if (!expressions.is_array()) {
    return absl::InvalidArgumentError(fmt::format("{}.matchExpressions must be a list", field));
  }
  for (size_t i = 0; i < expressions.size(); ++i) {
    const Json& e = expressions[i];
    std::string where = fmt::format("{}.matchExpressions[{}]", field, i);
    if (!e.is_object() || !e.value("key", Json()).is_string() ||
        !e.value("operator", Json()).is_string()) {
      return absl::InvalidArgumentError(
          fmt::format("{} needs key and operator (In, NotIn, Exists, DoesNotExist)", where));
    }
    Requirement requirement;
    requirement.key = e["key"].get<std::string>();
    if (std::string why = LabelKeyError(requirement.key); !why.empty()) {
      return absl::InvalidArgumentError(fmt::format("{}: {}", where, why));
    }
    std::string op = e["operator"].get<std::string>();
    Json values = e.value("values", Json::array());
    if (!values.is_array()) {
      return absl::InvalidArgumentError(fmt::format("{}.values must be a list", where));
    }
    for (const Json& v : values) {
      if (!v.is_string()) {
        return absl::InvalidArgumentError(fmt::format("{}.values must be strings", where));
      }
      requirement.values.push_back(v.get<std::string>());
    }
    if (op == "In" || op == "NotIn") {
      requirement.op = op == "In" ? Op::kIn : Op::kNotIn;
      if (requirement.values.empty()) {
        return absl::InvalidArgumentError(
            fmt::format("{}: operator {} needs at least one value", where, op));
      }
    } else if (op == "Exists" || op == "DoesNotExist") {
      requirement.op = op == "Exists" ? Op::kExists : Op::kDoesNotExist;
      if (!requirement.values.empty()) {
        return absl::InvalidArgumentError(
            fmt::format("{}: operator {} takes no values", where, op));
      }
    } else {
      return absl::InvalidArgumentError(fmt::format(
          "{}: unknown operator \"{}\"; use In, NotIn, Exists or DoesNotExist", where, op));
    }
    selector.requirements_.push_back(std::move(requirement));
  }
  return selector;
}

bool LabelSelector::Matches(const Json& labels) const {
  for (const Requirement& r : requirements_) {
    bool has = labels.is_object() && labels.contains(r.key) && labels[r.key].is_string();
    std::string value = has ? labels[r.key].get<std::string>() : "";
    bool in = has && std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    bool ok = false;
    switch (r.op) {
      case Op::kEquals:
      case Op::kIn:
        ok = in;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        ok = !in;
        break;
      case Op::kExists:
        ok = has;
        break;
      case Op::kDoesNotExist:
        ok = !has;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

bool LabelSelector::MatchesObject(const Json& object) const {
  const Json* labels = Find(object, {"metadata", "labels"});
  return Matches(labels == nullptr ? Json() : *labels);
}

}  // namespace ditto::control
