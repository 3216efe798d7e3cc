#include "common/quantity.h"

#include <cmath>
#include <limits>

#include <cctype>
#include <cstdlib>

#include "fmt/format.h"

namespace ditto {
namespace {

struct Suffix {
  std::string_view text;
  long double multiplier;
};

constexpr Suffix kSuffixes[] = {
    {"Ki", 1024.0L}, {"Mi", 1048576.0L}, {"Gi", 1073741824.0L}, {"Ti", 1099511627776.0L},
    {"Pi", 1125899906842624.0L}, {"Ei", 1152921504606846976.0L}, {"k", 1e3L}, {"M", 1e6L},
    {"G", 1e9L}, {"T", 1e12L}, {"P", 1e15L}, {"E", 1e18L}, {"m", 1e-3L},
};

Status Invalid(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format(
      "quantity \"{}\" {}; use a number with an optional suffix Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P, E "
      "(for example 5Gi or 500M)",
      text.substr(0, 64), why));
}

}  // namespace

StatusOr<int64_t> ParseQuantity(std::string_view text) {
  if (text.empty()) return Invalid(text, "is empty");
  if (text.size() > 64) return Invalid(text, "is too long");
  size_t pos = 0;
  if (text[0] == '+') pos = 1;
  if (text[0] == '-') return Invalid(text, "is negative");
  // Digits with at most one decimal point.
  size_t digits_start = pos;
  bool seen_point = false;
  size_t digit_count = 0;
  while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) ||
                               (text[pos] == '.' && !seen_point))) {
    if (text[pos] == '.') seen_point = true; else ++digit_count;
    ++pos;
  }
  if (digit_count == 0) return Invalid(text, "has no digits");
  std::string number(text.substr(digits_start, pos - digits_start));
  long double value = std::strtold(number.c_str(), nullptr);
  std::string_view rest = text.substr(pos);
  long double multiplier = 1.0L;
  if (!rest.empty() && (rest[0] == 'e' || rest[0] == 'E') && rest.size() > 1 &&
      (std::isdigit(static_cast<unsigned char>(rest[1])) || rest[1] == '+' || rest[1] == '-')) {
    size_t i = 1;
    bool negative = false;
    if (rest[i] == '+' || rest[i] == '-') negative = rest[i++] == '-';
    if (i >= rest.size()) return Invalid(text, "has an empty exponent");
    int exponent = 0;
    for (; i < rest.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(rest[i]))) return Invalid(text, "has a bad exponent");
      exponent = exponent * 10 + (rest[i] - '0');
      if (exponent > 30) return Invalid(text, "is out of range");
    }
    multiplier = std::pow(10.0L, negative ? -exponent : exponent);
  } else if (!rest.empty()) {
    bool matched = false;
    for (const Suffix& suffix : kSuffixes) {
      if (rest == suffix.text) {
        multiplier = suffix.multiplier;
        matched = true;
        break;
      }
    }
    if (!matched) return Invalid(text, fmt::format("has an unknown suffix \"{}\"", rest));
  }
  long double bytes = std::ceil(value * multiplier);
  if (!(bytes < static_cast<long double>(std::numeric_limits<int64_t>::max()))) {
    return Invalid(text, "does not fit in 64 bits");
  }
  return static_cast<int64_t>(bytes);
}

std::string FormatQuantity(int64_t bytes) {
  static constexpr std::string_view kBinary[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  if (bytes == 0) return "0";
  int index = -1;
  int64_t value = bytes;
  while (index < 5 && value % 1024 == 0) {
    value /= 1024;
    ++index;
  }
  return index < 0 ? std::to_string(bytes) : fmt::format("{}{}", value, kBinary[index]);
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  long double value = bytes;
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", static_cast<double>(value), kUnits[unit]);
}

}  // namespace ditto
