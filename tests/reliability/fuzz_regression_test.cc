// Replays every input in fuzz/corpus/<target>/ and fuzz/regressions/<target>/
// through the fuzz targets in the ordinary build, so an input that once
// crashed one stays fixed. (A broken invariant traps and fails the test.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz_targets.h"

namespace ditto::fuzz {
namespace {

int Replay(const std::string& target, void (*run)(const uint8_t*, size_t)) {
  int inputs = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    std::filesystem::path dir = std::filesystem::path(DITTO_SOURCE_DIR) / "fuzz" / kind / target;
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream bytes;
      bytes << in.rdbuf();
      std::string data = bytes.str();
      SCOPED_TRACE(entry.path().string());
      run(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      ++inputs;
    }
  }
  return inputs;
}

TEST(FuzzRegressionTest, Quantity) { EXPECT_GT(Replay("quantity", FuzzQuantity), 0); }
TEST(FuzzRegressionTest, Ids) { EXPECT_GT(Replay("ids", FuzzIds), 0); }
TEST(FuzzRegressionTest, CsiValidation) {
  EXPECT_GT(Replay("csi_validation", FuzzCsiValidation), 0);
}
TEST(FuzzRegressionTest, Yaml) { EXPECT_GT(Replay("yaml", FuzzYaml), 0); }

}  // namespace
}  // namespace ditto::fuzz
