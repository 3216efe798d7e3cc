// A temporary directory under /tmp that removes itself, safely: everything
// mounted below it is unmounted first (thawing frozen filesystems, lazily if
// busy) and loop devices whose backing file lies below it are detached, so a
// test that fails midway leaves nothing behind.
#pragma once

#include <string>
#include <string_view>

namespace ditto::test {

class TempDir {
 public:
  // Creates /tmp/<prefix>-XXXXXX (mkdtemp); aborts the process if /tmp is
  // unusable, since no test can run then.
  explicit TempDir(std::string_view prefix = "ditto-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The absolute, symlink-free path of the directory.
  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Join(std::string_view name) const;

  // Unmounts, detaches and removes everything. Idempotent; also called by the
  // destructor. Leaves the tree in place (and reports to stderr) if something
  // is still mounted below it, rather than deleting through a mount.
  void Cleanup();

 private:
  std::string path_;
  bool removed_ = false;
};

// Unmounts everything mounted at or below `dir` (deepest first) and detaches
// the loop devices backed by files below it. Best effort: reports failures to
// stderr. Returns true if nothing is mounted below `dir` afterwards.
bool ReleaseMountsAndLoops(const std::string& dir);

}  // namespace ditto::test
