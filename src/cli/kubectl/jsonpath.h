// kubectl's JSONPath templates (`-o jsonpath=...`, `wait --for=jsonpath=`,
// custom-columns, --sort-by): text with {...} actions holding paths
// (.a.b, [0], [-1], [1:3], [*], ['key'], .., *), filters
// ([?(@.status.phase=="Bound")], ==, !=, <, <=, >, >=, or @.x alone for
// presence), string literals ({"\n"}), and {range PATH}...{end}.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "control/api/object.h"

namespace ditto::control {

class JsonPath {
 public:
  // Parses a template. InvalidArgument says what is wrong and where.
  static StatusOr<JsonPath> Parse(std::string_view text);
  // kubectl's relaxed form for custom-columns and --sort-by: ".a.b",
  // "a.b" and "{.a.b}" all mean {.a.b}.
  static StatusOr<JsonPath> ParseRelaxed(std::string_view text);

  // The template's output for `input`. Missing keys print nothing (kubectl
  // get's --allow-missing-template-keys=true).
  std::string Execute(const Json& input) const;
  // The values the template's path actions select, in order (the input of
  // wait --for=jsonpath and custom-columns).
  std::vector<Json> Values(const Json& input) const;

  struct Node;

 private:
  std::vector<std::shared_ptr<Node>> nodes_;
};

// How a selected value prints: strings raw, numbers and booleans as JSON,
// objects and lists as compact JSON.
std::string JsonPathText(const Json& value);

}  // namespace ditto::control
