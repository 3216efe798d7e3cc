// Content hashes for tests: equal files have equal hashes.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ditto::test {

// Lowercase hex SHA-256 of the whole file (holes read as zeros).
StatusOr<std::string> Sha256File(const std::string& path);
// Lowercase hex SHA-256 of `data`.
std::string Sha256(std::string_view data);

}  // namespace ditto::test
