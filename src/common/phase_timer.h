// Times the consecutive phases of one piece of work (dittod's start-up, a
// pool's recovery) for a single log line: "total 812 ms (recovery 640 ms,
// catalog 12 ms, ...)". Not thread-safe; one per piece of work.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ditto {

class PhaseTimer {
 public:
  PhaseTimer();

  // Ends the current phase, names it, and starts the next one.
  void Lap(std::string_view phase);
  // Adds the phases another PhaseTimer timed inside the current phase, as
  // "prefix: phase"; the current phase's next Lap counts only the rest.
  void Append(std::string_view prefix, const PhaseTimer& inner);

  double TotalMs() const;
  // "N ms (a N ms, b N ms)", phases in the order they ran; phases under
  // 1 ms are left out unless every phase is.
  std::string Summary() const;
  const std::vector<std::pair<std::string, double>>& phases() const { return phases_; }

 private:
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point lap_;
  std::vector<std::pair<std::string, double>> phases_;  // name, milliseconds
};

}  // namespace ditto
