// Kubernetes label selectors: the text form of `-l/--selector`
// ("app=web,tier!=db", "env in (prod,qa)", "!legacy") and the
// metav1.LabelSelector object (matchLabels, matchExpressions) that specs
// embed, both evaluated against an object's metadata.labels.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "control/api/object.h"

namespace ditto::control {

class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;
  };

  // The empty selector: matches everything.
  LabelSelector() = default;

  // Parses kubectl's syntax. InvalidArgument naming the bad term and the
  // accepted forms.
  static StatusOr<LabelSelector> Parse(std::string_view text);
  // From a metav1.LabelSelector object; `field` names it in errors.
  static StatusOr<LabelSelector> FromJson(const Json& selector, std::string_view field);

  bool empty() const { return requirements_.empty(); }
  // Whether `labels` (an object of strings, or null) satisfies every requirement.
  bool Matches(const Json& labels) const;
  // Whether `object`'s metadata.labels satisfy it.
  bool MatchesObject(const Json& object) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

// A label key ("app", "example.com/tier") or value as the API server
// accepts it; "" when valid, else why not.
std::string LabelKeyError(std::string_view key);
std::string LabelValueError(std::string_view value);

}  // namespace ditto::control
