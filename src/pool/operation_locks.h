// Try-locks on operation keys ("vol:<id>", "snap:<id>", "name:<name>"): two
// operations on the same object at once must not interleave, and the CSI spec
// wants the second to fail ABORTED rather than wait.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace ditto::pool {

class OperationLocks {
 public:
  // Released on destruction.
  class Hold {
   public:
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    friend class OperationLocks;
    Hold(OperationLocks* owner, std::vector<std::string> exclusive, std::vector<std::string> shared)
        : owner_(owner), exclusive_(std::move(exclusive)), shared_(std::move(shared)) {}
    OperationLocks* owner_;
    std::vector<std::string> exclusive_;
    std::vector<std::string> shared_;
  };

  // Takes every key at once or none: ABORTED naming the busy key. A shared key
  // may be held by many (clones of one source); exclusive excludes all.
  StatusOr<std::unique_ptr<Hold>> TryAcquire(std::vector<std::string> exclusive,
                                             std::vector<std::string> shared = {});

 private:
  void Release(const Hold& hold);

  std::mutex mutex_;
  // key -> -1 when held exclusively, else the number of shared holders.
  std::map<std::string, int> holders_;  // guarded by mutex_
};

}  // namespace ditto::pool
