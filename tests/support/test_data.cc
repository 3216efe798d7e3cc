#include "support/test_data.h"

#include <algorithm>
#include <cstring>

namespace ditto::test {

std::string PatternData(size_t size, uint64_t seed) {
  std::string data(size, '\0');
  // splitmix64: fast, and every seed gives a distinct stream.
  uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t pos = 0; pos < size; pos += sizeof(uint64_t)) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    std::memcpy(data.data() + pos, &z, std::min(sizeof(z), size - pos));
  }
  return data;
}

}  // namespace ditto::test
