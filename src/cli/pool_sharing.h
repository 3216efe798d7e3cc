// Block sharing between the images of a pool, from their FIEMAP physical
// extents: the space saved by sharing (bytes the images would use if none
// shared minus the bytes they occupy), and which images one shares with.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "pool/pool.h"

namespace ditto::cli {

struct PoolSharing {
  uint64_t allocated_bytes = 0;  // sum over images of their allocated bytes
  uint64_t occupied_bytes = 0;   // distinct physical bytes under the images
  uint64_t SavedBytes() const { return allocated_bytes - occupied_bytes; }
  // Image ID -> IDs of the other images it shares physical blocks with.
  std::map<std::string, std::vector<std::string>> shares_with;
};

StatusOr<PoolSharing> MeasureSharing(pool::Pool& pool);

}  // namespace ditto::cli
