#include "pool/operation_locks.h"

#include "fmt/format.h"

namespace ditto::pool {
namespace {

std::string Describe(const std::string& key) {
  // Keys are "vol:<id>", "snap:<id>" or "name:<name>".
  size_t colon = key.find(':');
  std::string kind = key.substr(0, colon);
  std::string what = kind == "vol" ? "volume" : kind == "snap" ? "snapshot" : "name";
  return fmt::format("{} {}", what, key.substr(colon + 1));
}

}  // namespace

OperationLocks::Hold::~Hold() { owner_->Release(*this); }

StatusOr<std::unique_ptr<OperationLocks::Hold>> OperationLocks::TryAcquire(
    std::vector<std::string> exclusive, std::vector<std::string> shared) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::string& key : exclusive) {
    if (holders_.count(key)) {
      return absl::AbortedError(fmt::format(
          "another operation on {} is in progress; retry when it has finished", Describe(key)));
    }
  }
  for (const std::string& key : shared) {
    auto it = holders_.find(key);
    if (it != holders_.end() && it->second < 0) {
      return absl::AbortedError(fmt::format(
          "another operation on {} is in progress; retry when it has finished", Describe(key)));
    }
  }
  for (const std::string& key : exclusive) holders_[key] = -1;
  for (const std::string& key : shared) ++holders_[key];
  return std::unique_ptr<Hold>(new Hold(this, std::move(exclusive), std::move(shared)));
}

void OperationLocks::Release(const Hold& hold) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::string& key : hold.exclusive_) holders_.erase(key);
  for (const std::string& key : hold.shared_) {
    auto it = holders_.find(key);
    if (it != holders_.end() && --it->second <= 0) holders_.erase(it);
  }
}

}  // namespace ditto::pool
