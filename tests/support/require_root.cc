#include "support/require_root.h"

#include <stdlib.h>
#include <unistd.h>

#include <string_view>

namespace ditto::test {

bool IsRoot() { return ::geteuid() == 0; }

bool InCi() {
  const char* ci = ::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

}  // namespace ditto::test
