// The space figures (FIEMAP) of every image of a pool, kept so that the
// pool's totals cost constant time to read instead of one extent map per
// image: what a /metrics scrape of a pool of 100k volumes can afford.
//
// An image's figures change in two ways. The pool's own operations (a
// clone or snapshot shares the source's blocks, a delete may unshare them,
// making a volume thick or growing it allocates) call Invalidate or Track,
// which puts the image first in line. Applications' writes into a volume
// (which the pool does not see) only show up when the image is measured
// again: Refresh measures the invalidated and unmeasured images first, then
// the least recently measured ones, so calling it with a budget of
// images / N every period / N bounds every figure's age by the period.
//
// Reservations of thick volumes counted here are a report, never an
// admission decision (Pool::HoldSpace measures thick volumes afresh); an
// unmeasured thick volume counts its whole capacity (the most it can need).
//
// Thread-safe. The measuring runs outside the lock: readers of totals()
// never wait for a FIEMAP.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "common/status.h"

namespace ditto::pool {

struct ImageSpace {
  uint64_t size_bytes = 0;       // apparent size
  uint64_t allocated_bytes = 0;  // bytes with data
  uint64_t shared_bytes = 0;     // allocated bytes shared with another image
  uint64_t exclusive_bytes = 0;  // allocated bytes only this image holds
  uint64_t extent_count = 0;
};

class SpaceCache {
 public:
  // Measures the image at a path; NotFound when it is gone.
  using Measure = std::function<StatusOr<ImageSpace>(const std::string& path)>;
  explicit SpaceCache(Measure measure) : measure_(std::move(measure)) {}

  // Adds the image `key` (e.g. "vol:<id>") at `path`, or updates what is
  // known of it; either way it is measured first by the next Refresh.
  // `thick` and `capacity_bytes` matter for volumes only.
  void Track(const std::string& key, const std::string& path, bool thick = false,
             uint64_t capacity_bytes = 0);
  // Marks an image as changed: measured first by the next Refresh. Unknown
  // keys are ignored.
  void Invalidate(const std::string& key);
  // The image is gone: its figures leave the totals.
  void Forget(const std::string& key);

  // Measures up to `budget` images (0: every image, once each): invalidated and
  // unmeasured ones first, then the least recently measured. An image found
  // missing is forgotten. Returns how many were measured.
  size_t Refresh(size_t budget);

  struct Totals {
    uint64_t images = 0;             // tracked
    uint64_t unmeasured = 0;         // tracked, waiting for a (new) measurement
    uint64_t shared_bytes = 0;       // sum over measured images
    uint64_t reserved_bytes = 0;     // thick volumes: capacity - exclusive bytes
  };
  Totals totals() const;

 private:
  struct Entry {
    std::string path;
    bool thick = false;
    uint64_t capacity_bytes = 0;
    std::optional<uint64_t> shared_bytes;     // set once measured
    std::optional<uint64_t> exclusive_bytes;  // set once measured
    bool urgent = false;    // in urgent_, waiting for a measurement
    uint64_t version = 0;   // bumped by every Track and Invalidate
    uint64_t ticket = 0;    // its current place in cycle_
  };
  // This entry's contributions to the totals, added (+1) or removed (-1).
  void Account(const Entry& entry, int sign) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t ReservationOf(const Entry& entry) const;
  void MakeUrgent(const std::string& key, Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Measure measure_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> urgent_ ABSL_GUARDED_BY(mu_);  // first in line
  // Least recently measured first; a pair whose ticket is not the entry's
  // any more is a leftover, skipped.
  std::deque<std::pair<std::string, uint64_t>> cycle_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  Totals totals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ditto::pool
