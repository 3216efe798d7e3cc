// A pool on FakeHost in a fresh directory, on the backend the test's
// parameter names (FakeHost reports btrfs for kBtrfs, XFS otherwise).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "host/fake_host.h"
#include "pool/pool.h"

namespace ditto::pool {

class FakePoolTest : public testing::TestWithParam<BackendChoice> {
 protected:
  void SetUp() override {
    if (GetParam() == BackendChoice::kBtrfs) host_.set_filesystem_type("btrfs");
    char pattern[] = "/tmp/ditto-fake-pool-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    InitOptions options;
    options.backing = Backing::kNever;
    options.backend = GetParam();
    auto pool = Pool::Init(host_, dir_, options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }
  void TearDown() override {
    pool_.reset();
    std::filesystem::remove_all(dir_);
  }

  host::FakeHost host_;
  std::string dir_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace ditto::pool
