#include "pool/operation_locks.h"

#include <gtest/gtest.h>

namespace ditto::pool {
namespace {

TEST(OperationLocksTest, SecondExclusiveHolderIsAborted) {
  OperationLocks locks;
  auto first = locks.TryAcquire({"vol:a"});
  ASSERT_TRUE(first.ok());
  auto second = locks.TryAcquire({"vol:a"});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAborted);
  EXPECT_NE(second.status().message().find("volume a"), std::string::npos);
  first->reset();
  EXPECT_TRUE(locks.TryAcquire({"vol:a"}).ok());
}

TEST(OperationLocksTest, SharedHoldersCoexistButExcludeExclusive) {
  OperationLocks locks;
  auto clone1 = locks.TryAcquire({"name:c1"}, {"vol:src"});
  auto clone2 = locks.TryAcquire({"name:c2"}, {"vol:src"});
  ASSERT_TRUE(clone1.ok() && clone2.ok());
  EXPECT_EQ(locks.TryAcquire({"vol:src"}).status().code(), absl::StatusCode::kAborted);
  clone1->reset();
  EXPECT_EQ(locks.TryAcquire({"vol:src"}).status().code(), absl::StatusCode::kAborted);
  clone2->reset();
  auto deleting = locks.TryAcquire({"vol:src"});
  ASSERT_TRUE(deleting.ok());
  EXPECT_EQ(locks.TryAcquire({"name:c3"}, {"vol:src"}).status().code(),
            absl::StatusCode::kAborted);
}

TEST(OperationLocksTest, AllOrNothing) {
  OperationLocks locks;
  auto held = locks.TryAcquire({"vol:b"});
  EXPECT_FALSE(locks.TryAcquire({"vol:a", "vol:b"}).ok());
  // "vol:a" was not left taken by the failed attempt.
  EXPECT_TRUE(locks.TryAcquire({"vol:a"}).ok());
}

}  // namespace
}  // namespace ditto::pool
