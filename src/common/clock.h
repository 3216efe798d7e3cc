#pragma once
#include <cstdint>
namespace ditto {
// Wall-clock time in Unix nanoseconds (creation times in the catalog).
int64_t NowNanos();
}  // namespace ditto
