// One process at a time opens a pool (pool.lock), between real processes: a
// second dittod, or a dittoctl pool command, on a pool a running dittod
// holds waits for it (up to 30 s, as documented) and then fails with
// "pool DIR is in use by PID N"; once the holder stops, a waiting command
// proceeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "fmt/format.h"
#include "reliability/harness.h"
#include "support/require_root.h"

namespace ditto::reliability {
namespace {

using namespace std::chrono_literals;

struct Timed {
  ToolResult result;
  double seconds = 0;
};

Timed RunTimed(const std::vector<std::string>& argv) {
  auto start = std::chrono::steady_clock::now();
  Timed timed{RunTool(argv)};
  timed.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return timed;
}

TEST(PoolLockTest, SecondProcessOnAPoolWaitsThenFailsNamingTheHolder) {
  DITTO_REQUIRE_ROOT();
  Workspace work("ditto-pool-lock");
  auto first = Dittod::Start(work.Options());
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string holder = fmt::format("in use by PID {}", (*first)->pid());

  // A second dittod (its own socket) and a dittoctl pool command, at once.
  Timed second_daemon, ctl;
  std::thread daemon_thread([&] {
    second_daemon = RunTimed({DittodPath(), "--endpoint", "unix://" + work.Join("second.sock"),
                              "--node-id", "second", "--pool", work.pool_dir()});
  });
  std::thread ctl_thread(
      [&] { ctl = RunTimed({DITTOCTL_PATH, "volume", "list", "--pool", work.pool_dir()}); });
  daemon_thread.join();
  ctl_thread.join();
  for (auto [what, run] : {std::pair<const char*, Timed*>{"second dittod", &second_daemon},
                          std::pair<const char*, Timed*>{"dittoctl volume list", &ctl}}) {
    SCOPED_TRACE(what);
    EXPECT_NE(run->result.exit_code, 0) << "it opened a pool another process holds";
    EXPECT_NE(run->result.output.find(holder), std::string::npos)
        << "the error does not say \"" << holder << "\": " << run->result.output;
    EXPECT_GE(run->seconds, 29.0) << "it did not wait for the holder";
  }
  EXPECT_TRUE((*first)->Running()) << "the holder died";
  EXPECT_FALSE(std::filesystem::exists(work.Join("second.sock")))
      << "the second dittod served a socket";

  // A command that starts while the holder runs proceeds once it stops.
  Timed waiting;
  std::thread waiter(
      [&] { waiting = RunTimed({DITTOCTL_PATH, "volume", "list", "--pool", work.pool_dir()}); });
  std::this_thread::sleep_for(2s);
  Status stopped = (*first)->Stop();
  EXPECT_TRUE(stopped.ok()) << stopped;
  waiter.join();
  EXPECT_EQ(waiting.result.exit_code, 0) << waiting.result.output;
  EXPECT_GE(waiting.seconds, 1.5) << "it did not wait for the holder to stop";
  std::printf(
      "pool lock: a second dittod and a dittoctl on a held pool waited %.0f s and failed naming "
      "the holder's PID; a dittoctl waiting %.1f s proceeded once the holder stopped\n",
      std::min(second_daemon.seconds, ctl.seconds), waiting.seconds);
}

}  // namespace
}  // namespace ditto::reliability
