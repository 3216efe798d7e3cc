#include "host/forwarding_host.h"

#include <gtest/gtest.h>

#include "host/fake_host.h"

namespace ditto::host {
namespace {

// Overrides one method; every other call reaches the wrapped host.
class ThawFails : public ForwardingHost {
 public:
  using ForwardingHost::ForwardingHost;
  Status Thaw(const std::string& mount_point) override {
    ++thaw_calls;
    return absl::InternalError("thaw refused");
  }
  int thaw_calls = 0;
};

TEST(ForwardingHostTest, ForwardsEverythingButTheOverride) {
  FakeHost fake;
  ThawFails host(fake);
  ASSERT_TRUE(host.MakeDirectories("/pool", 0755).ok());
  ASSERT_TRUE(host.CreateSparseFile("/pool/a", 4096).ok());
  ASSERT_TRUE(host.WriteAt("/pool/a", 0, "abc").ok());
  ASSERT_TRUE(host.Reflink("/pool/a", "/pool/b").ok());
  EXPECT_EQ(*fake.ReadAt("/pool/b", 0, 3), "abc");
  ASSERT_TRUE(host.Freeze("/pool").ok());
  EXPECT_TRUE(fake.frozen("/pool"));
  EXPECT_EQ(host.Thaw("/pool").code(), absl::StatusCode::kInternal);
  EXPECT_EQ(host.thaw_calls, 1);
  EXPECT_TRUE(fake.frozen("/pool"));
  EXPECT_EQ(&host.target(), &fake);
}

}  // namespace
}  // namespace ditto::host
