// Path helpers for pool-internal paths built from validated pieces.
#pragma once

#include <string>
#include <string_view>

namespace ditto::pool {

inline std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

// True for an absolute path without "." or ".." components, empty components
// or a trailing slash (except "/" itself).
bool IsCleanAbsolutePath(std::string_view path);

}  // namespace ditto::pool
