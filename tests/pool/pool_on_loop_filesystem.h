// A test fixture: a pool initialised on a fresh loop-mounted filesystem of the
// parameter's kind ("btrfs": a btrfs-subvolumes pool, "xfs": a reflink-files
// pool), removed after each test. Needs root (skips, or fails under CI=true).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "host/linux_host.h"
#include "pool/pool.h"
#include "support/loop_filesystem.h"
#include "support/require_root.h"

namespace ditto::pool {

class PoolOnLoopFilesystem : public testing::TestWithParam<std::string> {
 protected:
  explicit PoolOnLoopFilesystem(uint64_t filesystem_bytes) : filesystem_bytes_(filesystem_bytes) {}

  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    auto fs = test::LoopFilesystem::Create(GetParam(), filesystem_bytes_);
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = std::move(*fs);
    InitOptions options;
    options.backing = Backing::kNever;
    options.backend = GetParam() == "btrfs" ? BackendChoice::kBtrfs : BackendChoice::kXfs;
    auto pool = Pool::Init(host_, fs_->mount_point() + "/pool", options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
  }
  void TearDown() override {
    pool_.reset();
    fs_.reset();
  }

  host::LinuxHost host_;
  std::unique_ptr<test::LoopFilesystem> fs_;
  std::unique_ptr<Pool> pool_;

 private:
  uint64_t filesystem_bytes_;
};

}  // namespace ditto::pool
