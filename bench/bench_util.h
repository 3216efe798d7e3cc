// Helpers shared by the benchmarks: timing and percentiles, fast random data,
// the baselines (raw FICLONE, a full sparse-aware byte copy), FIEMAP extent
// counts, filesystem usage, progress lines and fail-fast checks.
//
// Benchmarks are tools, not tests: any failure prints what went wrong and
// exits non-zero (Die), so a run never reports numbers from a broken setup.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ditto::bench {

using Clock = std::chrono::steady_clock;
inline constexpr uint64_t kKiB = 1ull << 10;
inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint64_t kGiB = 1ull << 30;

// Prints "bench: <message>" to stderr, runs the hook set by SetDieHook (stop
// the daemon, remove the loop filesystem) and exits 1.
[[noreturn]] void Die(const std::string& message);
void SetDieHook(std::function<void()> hook);
// Dies with `what` and the status message unless `status` is OK.
void Check(const Status& status, const std::string& what);
template <typename T>
T Check(StatusOr<T> value, const std::string& what) {
  Check(value.status(), what);
  return *std::move(value);
}
// A progress line on stderr, prefixed with the elapsed time of the run.
void Progress(const std::string& message);

double MillisSince(Clock::time_point start);

// Nearest-rank percentile (p in [0, 100]) of the samples; 0 when empty.
double Percentile(std::vector<double> samples, double p);

struct Summary {
  double p50 = 0, p90 = 0, p99 = 0, min = 0, max = 0;
  size_t n = 0;
};
Summary Summarize(const std::vector<double>& samples);

// "64MiB", "1GiB", "16GiB", "512KiB".
std::string SizeLabel(uint64_t bytes);
// Parses "64Mi", "1Gi", "16G", "4096" (binary units) or dies.
uint64_t ParseSize(const std::string& text);

// xorshift64*: a few GB/s on one core, incompressible enough for a
// filesystem that does not compress or deduplicate.
class FastRandom {
 public:
  explicit FastRandom(uint64_t seed) : state_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dull;
  }
  void Fill(char* data, size_t length);

 private:
  uint64_t state_;
};

// Writes `bytes` of random data from offset 0 into the existing file at
// `path` in 64 MiB pwrites, fsyncs it, then sync()s everything so that the
// loop device's backing file is flushed too and later timings do not pay
// for this writeback. Shows progress every GiB.
void FillFile(const std::string& path, uint64_t bytes, uint64_t seed);

// `count` random 4 KiB-aligned 4 KiB writes of random data within the first
// `span` bytes of `path`, then fsync and sync().
void RandomWrites(const std::string& path, uint64_t span, uint64_t count, uint64_t seed);

// The floor: open(source), open(destination, O_CREAT|O_EXCL), ioctl(FICLONE),
// close. Nothing else (no fsync, no rename, no bookkeeping).
void RawClone(const std::string& source, const std::string& destination);
// RawClone followed by fsync of the destination: the least a crash-safe
// cloner must do.
void RawCloneSync(const std::string& source, const std::string& destination);
// The crash-safe file protocol without any bookkeeping: RawCloneSync into
// `temp`, rename(temp, destination), fsync the destination's directory.
void RawClonePublish(const std::string& source, const std::string& temp,
                     const std::string& destination);
// What a copying driver does: creates `destination` with the same size and
// copies every SEEK_DATA range with pread/pwrite through a user buffer
// (copy_file_range would reflink on XFS, which is not a copy), keeping holes,
// then fsyncs it.
void FullCopy(const std::string& source, const std::string& destination);

// Number of FIEMAP extents of the file.
uint64_t ExtentCount(const std::string& path);
// Bytes in use on the filesystem holding `path` (statfs: blocks - free).
uint64_t FilesystemUsedBytes(const std::string& path);
// sync() twice: also flushes the loop device's backing file (see .cc).
void SyncAll();
void RemoveFile(const std::string& path);
bool FileExists(const std::string& path);

// Runs argv (execvp, no shell), stdout captured and returned, stderr passed
// through; dies when it cannot start or exits non-zero.
std::string RunTool(const std::vector<std::string>& argv);

}  // namespace ditto::bench
