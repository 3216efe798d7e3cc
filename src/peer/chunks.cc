#include "peer/chunks.h"

#include <openssl/sha.h>

namespace ditto::peer {

std::string Sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::string ZeroRangeSha256(uint64_t offset, uint64_t length) {
  std::string description(16, '\0');
  for (int i = 0; i < 8; ++i) {
    description[i] = static_cast<char>(offset >> (56 - 8 * i));
    description[8 + i] = static_cast<char>(length >> (56 - 8 * i));
  }
  return Sha256(description);
}

}  // namespace ditto::peer
