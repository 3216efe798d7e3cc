#include "pool/space_cache.h"

#include <unordered_set>

#include "spdlog/spdlog.h"

namespace ditto::pool {

uint64_t SpaceCache::ReservationOf(const Entry& entry) const {
  if (!entry.thick) return 0;
  // Unmeasured, or changed since it was measured (a snapshot may have made
  // its blocks shared): the most it can need.
  if (entry.urgent || !entry.exclusive_bytes) return entry.capacity_bytes;
  return entry.capacity_bytes > *entry.exclusive_bytes
             ? entry.capacity_bytes - *entry.exclusive_bytes
             : 0;
}

void SpaceCache::Account(const Entry& entry, int sign) {
  auto add = [sign](uint64_t& total, uint64_t value) {
    if (sign > 0) total += value;
    else total -= value;
  };
  add(totals_.images, 1);
  add(totals_.unmeasured, entry.urgent || !entry.shared_bytes ? 1 : 0);
  add(totals_.shared_bytes, entry.shared_bytes.value_or(0));
  add(totals_.reserved_bytes, ReservationOf(entry));
}

void SpaceCache::MakeUrgent(const std::string& key, Entry& entry) {
  ++entry.version;
  if (entry.urgent) return;
  entry.urgent = true;
  urgent_.push_back(key);
}

void SpaceCache::Track(const std::string& key, const std::string& path, bool thick,
                       uint64_t capacity_bytes) {
  std::lock_guard lock(mu_);
  auto [it, added] = entries_.try_emplace(key);
  Entry& entry = it->second;
  if (!added) Account(entry, -1);
  entry.path = path;
  entry.thick = thick;
  entry.capacity_bytes = capacity_bytes;
  if (added) {
    entry.ticket = ++next_ticket_;
    cycle_.emplace_back(key, entry.ticket);
  }
  MakeUrgent(key, entry);
  Account(entry, +1);
}

void SpaceCache::Invalidate(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Account(it->second, -1);
  MakeUrgent(key, it->second);
  Account(it->second, +1);
}

void SpaceCache::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Account(it->second, -1);
  entries_.erase(it);  // its places in urgent_ and cycle_ are skipped later
}

size_t SpaceCache::Refresh(size_t budget) {
  const bool all = budget == 0;
  size_t cycle_left = 0;  // with `all`: the places in cycle_ still to visit
  {
    std::lock_guard lock(mu_);
    cycle_left = cycle_.size();
  }
  std::unordered_set<std::string> done;  // with `all`: measured by this call
  size_t measured = 0;
  while (all || measured < budget) {
    std::string key, path;
    uint64_t version = 0;
    bool from_cycle = false;
    {
      std::lock_guard lock(mu_);
      while (!urgent_.empty() && key.empty()) {
        std::string next = std::move(urgent_.front());
        urgent_.pop_front();
        auto it = entries_.find(next);
        if (it == entries_.end() || !it->second.urgent) continue;  // forgotten or done
        Account(it->second, -1);
        it->second.urgent = false;  // an Invalidate from now on queues it again
        Account(it->second, +1);
        key = std::move(next);
      }
      while (!cycle_.empty() && key.empty() && (!all || cycle_left > 0)) {
        auto [next, ticket] = std::move(cycle_.front());
        cycle_.pop_front();
        if (all) --cycle_left;
        auto it = entries_.find(next);
        if (it == entries_.end() || it->second.ticket != ticket) continue;  // a leftover
        if (all && done.count(next) > 0) {  // measured first in line: keep its turn
          it->second.ticket = ++next_ticket_;
          cycle_.emplace_back(next, it->second.ticket);
          continue;
        }
        key = std::move(next);
        from_cycle = true;
      }
      if (key.empty()) break;  // nothing (more) to measure
      const Entry& entry = entries_.at(key);
      path = entry.path;
      version = entry.version;
    }
    StatusOr<ImageSpace> space = measure_(path);
    ++measured;
    if (all) done.insert(key);
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) continue;
    Entry& entry = it->second;
    if (from_cycle) {
      entry.ticket = ++next_ticket_;
      cycle_.emplace_back(key, entry.ticket);
    }
    // Changed while it was being measured: the next Refresh measures it again.
    if (entry.version != version) continue;
    if (absl::IsNotFound(space.status())) {
      Account(entry, -1);
      entries_.erase(it);
      continue;
    }
    if (!space.ok()) {
      spdlog::warn("cannot measure the space of {}: {}", path, std::string(space.status().message()));
      continue;
    }
    Account(entry, -1);
    entry.shared_bytes = space->shared_bytes;
    entry.exclusive_bytes = space->exclusive_bytes;
    Account(entry, +1);
  }
  return measured;
}

SpaceCache::Totals SpaceCache::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

}  // namespace ditto::pool
