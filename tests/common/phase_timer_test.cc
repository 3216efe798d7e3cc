#include "common/phase_timer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace ditto {
namespace {

TEST(PhaseTimerTest, NamesPhasesInOrderWithInnerOnesPrefixed) {
  PhaseTimer outer;
  outer.Lap("first");
  PhaseTimer inner;
  inner.Lap("a");
  inner.Lap("b");
  outer.Append("pool", inner);
  outer.Lap("rest");
  ASSERT_EQ(outer.phases().size(), 4u);
  EXPECT_EQ(outer.phases()[0].first, "first");
  EXPECT_EQ(outer.phases()[1].first, "pool: a");
  EXPECT_EQ(outer.phases()[2].first, "pool: b");
  EXPECT_EQ(outer.phases()[3].first, "rest");
}

TEST(PhaseTimerTest, InnerPhasesAreNotCountedTwice) {
  PhaseTimer outer;
  PhaseTimer inner;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  inner.Lap("slow");
  outer.Append("inner", inner);
  outer.Lap("rest");
  double sum = 0;
  for (const auto& [name, ms] : outer.phases()) {
    EXPECT_GE(ms, 0) << name;
    sum += ms;
  }
  // The phases partition the time: their sum never exceeds the total
  // (counting the inner 30 ms twice would).
  EXPECT_LE(sum, outer.TotalMs() + 0.01);
  EXPECT_GE(outer.phases()[0].second, 30);
}

TEST(PhaseTimerTest, SummaryLeavesOutPhasesUnderAMillisecond) {
  PhaseTimer timer;
  timer.Lap("instant");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  timer.Lap("slow");
  std::string summary = timer.Summary();
  EXPECT_NE(summary.find("slow "), std::string::npos) << summary;
  if (timer.phases()[0].second < 1.0) {  // not preempted between the two calls
    EXPECT_EQ(summary.find("instant"), std::string::npos) << summary;
  }

  PhaseTimer quick;
  quick.Lap("only");
  if (quick.phases()[0].second < 0.5) {
    EXPECT_NE(quick.Summary().find("(only 0 ms)"), std::string::npos) << quick.Summary();
  }
}

}  // namespace
}  // namespace ditto
