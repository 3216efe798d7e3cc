// Named failpoints in every multi-step operation, for crash testing.
//
// DITTO_FAILPOINTS="name=crash,other=error" activates points in this process:
//   crash  the process kills itself with SIGKILL at that point (like kill -9);
//   error  the point returns an Internal error, as a failing syscall would.
// Unset (production), a failpoint costs one getenv.
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"

namespace ditto {

// Every failpoint name, so a harness can walk them all. Hitting a name that is
// not listed here aborts (a typo would silently never fire).
const std::vector<std::string_view>& AllFailpoints();

// OK unless `name` is activated with "error"; does not return for "crash".
Status Failpoint(std::string_view name);

}  // namespace ditto
