// libFuzzer entry point: see FuzzIds in fuzz_targets.h.
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ditto::fuzz::FuzzIds(data, size);
  return 0;
}
