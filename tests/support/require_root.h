// Root tests (loop devices, mounts) start with DITTO_REQUIRE_ROOT(): when not
// root they skip, except under CI=true, where they fail so that CI can never
// pass by skipping. Use at the start of a TEST body or of SetUp() (a function
// returning void).
#pragma once

#include <gtest/gtest.h>

namespace ditto::test {

bool IsRoot();
// Whether the environment variable CI is "true".
bool InCi();

}  // namespace ditto::test

#define DITTO_REQUIRE_ROOT()                                                                   \
  do {                                                                                         \
    if (!::ditto::test::IsRoot()) {                                                            \
      if (::ditto::test::InCi()) {                                                             \
        FAIL() << "this test needs root (loop devices, mounts) and CI=true forbids skipping; " \
                  "run the tests as root";                                                     \
      }                                                                                        \
      GTEST_SKIP() << "needs root (loop devices, mounts); run as root to include it";          \
    }                                                                                          \
  } while (0)
