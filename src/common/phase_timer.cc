#include "common/phase_timer.h"

#include "fmt/format.h"

namespace ditto {
namespace {

double MsBetween(std::chrono::steady_clock::time_point from,
                 std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

PhaseTimer::PhaseTimer() : start_(std::chrono::steady_clock::now()), lap_(start_) {}

void PhaseTimer::Lap(std::string_view phase) {
  auto now = std::chrono::steady_clock::now();
  phases_.emplace_back(std::string(phase), MsBetween(lap_, now));
  lap_ = now;
}

void PhaseTimer::Append(std::string_view prefix, const PhaseTimer& inner) {
  double inner_ms = 0;
  for (const auto& [name, ms] : inner.phases_) {
    phases_.emplace_back(fmt::format("{}: {}", prefix, name), ms);
    inner_ms += ms;
  }
  // They ran inside the current phase: its next Lap counts only the rest.
  lap_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double, std::milli>(inner_ms));
}

double PhaseTimer::TotalMs() const { return MsBetween(start_, std::chrono::steady_clock::now()); }

std::string PhaseTimer::Summary() const {
  std::string parts;
  bool all_small = true;
  for (const auto& phase : phases_) all_small &= phase.second < 1.0;
  for (const auto& [name, ms] : phases_) {
    if (ms < 1.0 && !all_small) continue;
    parts += fmt::format("{}{} {:.0f} ms", parts.empty() ? "" : ", ", name, ms);
  }
  return fmt::format("{:.0f} ms ({})", TotalMs(), parts);
}

}  // namespace ditto
