#include "common/failpoint.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace ditto {
namespace {

TEST(FailpointTest, InactiveByDefaultAndErrorsWhenAsked) {
  unsetenv("DITTO_FAILPOINTS");
  EXPECT_TRUE(Failpoint("pool.clone.after_reflink").ok());
  setenv("DITTO_FAILPOINTS", "pool.create.after_image=error,pool.clone.after_reflink=error", 1);
  EXPECT_EQ(Failpoint("pool.clone.after_reflink").code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(Failpoint("pool.clone.after_rename").ok());
  unsetenv("DITTO_FAILPOINTS");
}

TEST(FailpointDeathTest, CrashKillsTheProcess) {
  EXPECT_EXIT(
      {
        setenv("DITTO_FAILPOINTS", "pool.clone.after_rename=crash", 1);
        (void)Failpoint("pool.clone.after_rename");
      },
      testing::KilledBySignal(SIGKILL), "");
}

TEST(FailpointDeathTest, UnknownNameAborts) {
  EXPECT_DEATH((void)Failpoint("no.such.point"), "");
}

}  // namespace
}  // namespace ditto
