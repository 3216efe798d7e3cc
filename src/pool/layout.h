// pool.json: how a pool directory is laid out, written once at init.
#pragma once

#include <string>

#include "common/status.h"
#include "host/host.h"

namespace ditto::pool {

struct PoolLayout;

inline constexpr char kLayoutFileName[] = "pool.json";
inline constexpr char kBackingFileName[] = "backing.img";

StatusOr<PoolLayout> ReadLayout(host::Host& host, const std::string& dir);
Status WriteLayout(host::Host& host, const PoolLayout& layout);

}  // namespace ditto::pool
