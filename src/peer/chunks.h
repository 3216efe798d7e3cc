// What both ends of an image stream (proto/peer.proto) compute the same way:
// the SHA-256 of a data chunk, and that of a zero range's description.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ditto::peer {

// The 32-byte SHA-256 of `data`.
std::string Sha256(std::string_view data);
// The SHA-256 of [offset, offset + length) read as zeros: of the 16 bytes
// offset and length, each big-endian.
std::string ZeroRangeSha256(uint64_t offset, uint64_t length);

}  // namespace ditto::peer
