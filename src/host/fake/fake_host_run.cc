// FakeHost: external tools: recorded, and answered by the test's handler.
#include "host/fake_host.h"

#include "fmt/format.h"
#include "host/fake/fake_paths.h"

namespace ditto::host {

using internal::BlocksFor;
using internal::ChildPrefix;
using internal::IsUnder;
using internal::kFakeDevice;
using internal::kFakeTotalInodes;
using internal::kLoopMajor;
using internal::LoopIndex;
using internal::Normalize;
using internal::ParentOf;

StatusOr<CommandResult> FakeHost::Run(const std::vector<std::string>& argv) {
  std::string joined;
  for (const std::string& arg : argv) joined += (joined.empty() ? "" : " ") + arg;
  RETURN_IF_ERROR(Injected("Run", {joined}));
  if (argv.empty()) return absl::InvalidArgumentError("cannot run an empty command");
  RunHandler handler;
  {
    std::lock_guard lock(mutex_);
    commands_.push_back(argv);
    handler = run_handler_;
  }
  if (!handler) return CommandResult{};
  return handler(argv);
}

}  // namespace ditto::host
