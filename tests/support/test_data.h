// Deterministic, incompressible-looking test data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ditto::test {

// `size` bytes that depend only on (size, seed); different seeds differ.
std::string PatternData(size_t size, uint64_t seed);

}  // namespace ditto::test
