// Fuzz targets: each takes arbitrary bytes, feeds them to a parser or
// validator, and aborts (__builtin_trap) when an invariant breaks. libFuzzer
// mains (fuzz_*.cc, built with -DDITTO_FUZZ=ON and clang) call them; the
// regression test replays fuzz/corpus and fuzz/regressions through them in
// the ordinary build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ditto::fuzz {

// ParseQuantity: never crashes; a parsed value is non-negative and
// FormatQuantity of it parses back to the same value.
void FuzzQuantity(const uint8_t* data, size_t size);
// Volume/snapshot IDs and names: a valid ID has the strict pattern (no '/',
// '.', NUL), so it joins into a path without traversal.
void FuzzIds(const uint8_t* data, size_t size);
// CSI request validation: the bytes as a serialized CreateVolumeRequest (and
// NodeStage/NodePublish requests) through every validator; accepted node
// paths are absolute and normalised, accepted sizes fit the range.
void FuzzCsiValidation(const uint8_t* data, size_t size);
// dittoctl YAML: ParseYaml never crashes or exhausts memory; what it
// accepts prints back (ToYaml) to YAML that parses to the same JSON.
void FuzzYaml(const uint8_t* data, size_t size);

}  // namespace ditto::fuzz
