// Baselines use raw syscalls on purpose: they are what ditto is measured
// against, so they must not go through ditto's own code.
#include "bench/bench_util.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <mutex>
#include <cstring>
#include <iostream>
#include <memory>
#include <utility>

#include "fmt/format.h"
#include "host/linux_host.h"

namespace ditto::bench {
namespace {

const Clock::time_point kRunStart = Clock::now();

// An fd that closes itself; dies when open fails.
class Fd {
 public:
  Fd(const std::string& path, int flags, mode_t mode = 0600) : fd_(::open(path.c_str(), flags, mode)) {
    if (fd_ < 0) Die(fmt::format("open {}: {}", path, std::strerror(errno)));
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void PwriteAll(int fd, const char* data, size_t length, uint64_t offset, const std::string& path) {
  while (length > 0) {
    ssize_t n = ::pwrite(fd, data, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die(fmt::format("write {} at {}: {}", path, offset, std::strerror(errno)));
    data += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

void Fsync(int fd, const std::string& path) {
  if (::fsync(fd) != 0) Die(fmt::format("fsync {}: {}", path, std::strerror(errno)));
}

host::LinuxHost& Host() {
  static host::LinuxHost host;
  return host;
}

}  // namespace

std::function<void()>& DieHook() {
  static std::function<void()> hook;
  return hook;
}

void SetDieHook(std::function<void()> hook) { DieHook() = std::move(hook); }

void Die(const std::string& message) {
  std::cerr << "bench: " << message << std::endl;
  // One thread cleans up and exits; another one dying meanwhile waits here
  // rather than exit under the cleanup's feet.
  static std::recursive_mutex dying;
  dying.lock();
  if (auto hook = std::exchange(DieHook(), nullptr)) hook();  // once, even if it dies too
  std::exit(1);
}

void Check(const Status& status, const std::string& what) {
  if (!status.ok()) Die(fmt::format("{}: {}", what, std::string(status.message())));
}

void Progress(const std::string& message) {
  double seconds = std::chrono::duration<double>(Clock::now() - kRunStart).count();
  std::cerr << fmt::format("[{:7.1f}s] {}", seconds, message) << std::endl;
}

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

Summary Summarize(const std::vector<double>& samples) {
  Summary s;
  s.n = samples.size();
  if (samples.empty()) return s;
  s.p50 = Percentile(samples, 50);
  s.p90 = Percentile(samples, 90);
  s.p99 = Percentile(samples, 99);
  s.min = *std::min_element(samples.begin(), samples.end());
  s.max = *std::max_element(samples.begin(), samples.end());
  return s;
}

std::string SizeLabel(uint64_t bytes) {
  if (bytes >= kGiB && bytes % kGiB == 0) return fmt::format("{}GiB", bytes / kGiB);
  if (bytes >= kMiB && bytes % kMiB == 0) return fmt::format("{}MiB", bytes / kMiB);
  if (bytes >= kKiB && bytes % kKiB == 0) return fmt::format("{}KiB", bytes / kKiB);
  return fmt::format("{}B", bytes);
}

uint64_t ParseSize(const std::string& text) {
  size_t used = 0;
  uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    Die(fmt::format("bad size '{}': use e.g. 64Mi, 1Gi", text));
  }
  std::string unit = text.substr(used);
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  if (unit.empty()) return value;
  if (unit == "K" || unit == "k") return value * kKiB;
  if (unit == "M") return value * kMiB;
  if (unit == "G") return value * kGiB;
  if (unit == "T") return value * kGiB * 1024;
  Die(fmt::format("bad size '{}': use e.g. 64Mi, 1Gi", text));
}

void FastRandom::Fill(char* data, size_t length) {
  size_t i = 0;
  for (; i + 8 <= length; i += 8) {
    uint64_t value = Next();
    std::memcpy(data + i, &value, 8);
  }
  for (; i < length; ++i) data[i] = static_cast<char>(Next());
}

void FillFile(const std::string& path, uint64_t bytes, uint64_t seed) {
  constexpr size_t kChunk = 64 * kMiB;
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  FastRandom random(seed);
  Fd fd(path, O_WRONLY | O_CLOEXEC);
  auto start = Clock::now();
  uint64_t next_report = kGiB;
  for (uint64_t offset = 0; offset < bytes; offset += kChunk) {
    size_t length = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - offset));
    random.Fill(buffer.get(), length);
    PwriteAll(fd.get(), buffer.get(), length, offset, path);
    if (offset + length >= next_report && bytes > kGiB) {
      double seconds = MillisSince(start) / 1000;
      Progress(fmt::format("  wrote {} of {} ({:.0f} MiB/s)", SizeLabel(offset + length),
                           SizeLabel(bytes), static_cast<double>(offset + length) / kMiB / seconds));
      next_report += kGiB;
    }
  }
  Fsync(fd.get(), path);
  SyncAll();
}

void RandomWrites(const std::string& path, uint64_t span, uint64_t count, uint64_t seed) {
  constexpr size_t kBlock = 4 * kKiB;
  char buffer[kBlock];
  FastRandom random(seed);
  Fd fd(path, O_WRONLY | O_CLOEXEC);
  uint64_t blocks = span / kBlock;
  for (uint64_t i = 0; i < count; ++i) {
    random.Fill(buffer, kBlock);
    PwriteAll(fd.get(), buffer, kBlock, (random.Next() % blocks) * kBlock, path);
  }
  Fsync(fd.get(), path);
  SyncAll();
}

void RawClone(const std::string& source, const std::string& destination) {
  Fd in(source, O_RDONLY | O_CLOEXEC);
  Fd out(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
  if (::ioctl(out.get(), FICLONE, in.get()) != 0) {
    Die(fmt::format("FICLONE {} -> {}: {}", source, destination, std::strerror(errno)));
  }
}

void RawCloneSync(const std::string& source, const std::string& destination) {
  Fd in(source, O_RDONLY | O_CLOEXEC);
  Fd out(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
  if (::ioctl(out.get(), FICLONE, in.get()) != 0) {
    Die(fmt::format("FICLONE {} -> {}: {}", source, destination, std::strerror(errno)));
  }
  Fsync(out.get(), destination);
}

void RawClonePublish(const std::string& source, const std::string& temp,
                     const std::string& destination) {
  RawCloneSync(source, temp);
  if (::rename(temp.c_str(), destination.c_str()) != 0) {
    Die(fmt::format("rename {} -> {}: {}", temp, destination, std::strerror(errno)));
  }
  Fd dir(destination.substr(0, destination.rfind('/')), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  Fsync(dir.get(), destination);
}

void FullCopy(const std::string& source, const std::string& destination) {
  constexpr size_t kChunk = 8 * kMiB;
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  Fd in(source, O_RDONLY | O_CLOEXEC);
  Fd out(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
  struct stat st;
  if (::fstat(in.get(), &st) != 0) Die(fmt::format("stat {}: {}", source, std::strerror(errno)));
  if (::ftruncate(out.get(), st.st_size) != 0) {
    Die(fmt::format("truncate {}: {}", destination, std::strerror(errno)));
  }
  off_t offset = 0;
  while (offset < st.st_size) {
    off_t data = ::lseek(in.get(), offset, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole remains
    if (data < 0) Die(fmt::format("SEEK_DATA {}: {}", source, std::strerror(errno)));
    off_t hole = ::lseek(in.get(), data, SEEK_HOLE);
    if (hole < 0) Die(fmt::format("SEEK_HOLE {}: {}", source, std::strerror(errno)));
    for (off_t at = data; at < hole;) {
      size_t length = static_cast<size_t>(std::min<off_t>(kChunk, hole - at));
      ssize_t n = ::pread(in.get(), buffer.get(), length, at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) Die(fmt::format("read {}: {}", source, std::strerror(errno)));
      PwriteAll(out.get(), buffer.get(), static_cast<size_t>(n), static_cast<uint64_t>(at),
                destination);
      at += n;
    }
    offset = hole;
  }
  Fsync(out.get(), destination);
}

uint64_t ExtentCount(const std::string& path) {
  return Check(Host().Extents(path), "FIEMAP " + path).size();
}

uint64_t FilesystemUsedBytes(const std::string& path) {
  struct statfs st;
  if (::statfs(path.c_str(), &st) != 0) Die(fmt::format("statfs {}: {}", path, std::strerror(errno)));
  return (st.f_blocks - st.f_bfree) * static_cast<uint64_t>(st.f_bsize);
}

void SyncAll() {
  // The pool filesystem sits on a loop device whose backing file is on the
  // host filesystem: the first sync() pushes the pool's dirty data into the
  // backing file's page cache, where it may be dirty again; the second one
  // writes that out too, so no writeback runs under the next timing.
  ::sync();
  ::sync();
}

void RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    Die(fmt::format("remove {}: {}", path, std::strerror(errno)));
  }
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string RunTool(const std::vector<std::string>& argv) {
  auto result = Check(Host().Run(argv), "run " + argv[0]);
  if (result.exit_code != 0) {
    Die(fmt::format("{} exited {}: {}", fmt::join(argv, " "), result.exit_code, result.stderr_text));
  }
  return result.stdout_text;
}

}  // namespace ditto::bench
