// Kubernetes resource quantities for byte sizes ("5Gi", "500M", "1.5Gi",
// "1e9"), as the API server accepts them for storage requests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ditto {

// Parses a quantity into bytes, rounding a fractional byte count up.
// InvalidArgument (naming the text and the accepted forms) for malformed,
// negative or int64-overflowing quantities.
StatusOr<int64_t> ParseQuantity(std::string_view text);

// Shortest exact binary-suffixed form: 5368709120 -> "5Gi", 1000 -> "1000".
std::string FormatQuantity(int64_t bytes);

// Human-readable size for status output: "1.5 GiB".
std::string HumanBytes(uint64_t bytes);

}  // namespace ditto
