// Permissions: the CSI socket is 0600, the pool and state directories and the
// catalog are not accessible to other users (root tests over a real dittod
// and dittoctl), and no source file runs an external tool through a shell
// (a scan of src/).
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "fmt/format.h"
#include "reliability/daemon_fixture.h"
#include "support/pool_paths.h"

namespace ditto::reliability {
namespace {

uint32_t ModeOf(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return 07777;  // fails every check below
  return info.st_mode & 07777;
}

// Whether `path`'s own mode bits grant its group or other users anything.
// Each file is judged by its own bits, not by the directories around it: a
// 0700 directory above (the test's temporary directory, the pool's) must
// not hide a file made 0644 or 0640 that a looser parent would expose.
bool GroupOrOthersHaveAccess(const std::string& path) { return (ModeOf(path) & 0077) != 0; }

class PermissionsTest : public DaemonTest {};

TEST_F(PermissionsTest, SocketPoolAndCatalogAreOwnerOnly) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  EXPECT_EQ(ModeOf(work_.socket_path()), 0600u)
      << fmt::format("socket mode {:o}", ModeOf(work_.socket_path()));
  EXPECT_EQ(ModeOf(work_.pool_dir()) & 0077, 0u)
      << fmt::format("pool directory mode {:o}", ModeOf(work_.pool_dir()));
  pb::CreateVolumeResponse created;
  ASSERT_TRUE(csi().CreateVolume(VolumeRequest("perm", 16 << 20), &created).ok());
  std::string image = test::PoolImagePath(work_.DataDir(), "volumes", created.volume().volume_id());
  for (const std::string& path :
       {work_.DataDir(), work_.DataDir() + "/catalog.db", work_.DataDir() + "/volumes",
        work_.DataDir() + "/snapshots", work_.DataDir() + "/tmp", image}) {
    EXPECT_FALSE(GroupOrOthersHaveAccess(path))
        << fmt::format("{} (mode {:o}) is open to its group or other users", path, ModeOf(path));
  }
  // The catalog files themselves, not only the directories around them.
  for (const char* suffix : {"/catalog.db", "/catalog.db-wal", "/catalog.db-shm"}) {
    std::string file = work_.DataDir() + suffix;
    EXPECT_EQ(ModeOf(file) & 0077, 0u) << fmt::format("{} is mode {:o}", file, ModeOf(file));
  }
  // A restart over a stale socket makes it 0600 again. SIGKILL leaves the
  // socket behind (SIGTERM would remove it); its mode is loosened so that a
  // daemon serving on the old file could not pass.
  csi_.reset();
  daemon_.reset();  // SIGKILL
  struct stat stale;
  ASSERT_EQ(::stat(work_.socket_path().c_str(), &stale), 0) << "no stale socket was left";
  ASSERT_TRUE(S_ISSOCK(stale.st_mode));
  ASSERT_EQ(::chmod(work_.socket_path().c_str(), 0666), 0);
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  EXPECT_EQ(ModeOf(work_.socket_path()), 0600u)
      << fmt::format("socket mode {:o} after a restart over a stale socket",
                     ModeOf(work_.socket_path()));
  EXPECT_TRUE(csi().Probe().ok());
}

#ifdef DITTOCTL_PATH
TEST_F(PermissionsTest, DittoctlStateIsOwnerOnly) {
  std::string state = work_.Join("state");
  ToolResult made = RunTool(
      {DITTOCTL_PATH, "--state", state, "--pool-size", "1Gi", "create", "namespace", "perm"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  std::error_code error;
  int checked = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(state, error);
       it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (error) break;
    std::string path = it->path();
    if (it->is_directory() || path.find(".db") != std::string::npos) {
      ++checked;
      EXPECT_FALSE(GroupOrOthersHaveAccess(path))
          << fmt::format("{} (mode {:o}) is open to its group or other users", path,
                         ModeOf(path));
    }
  }
  EXPECT_EQ(ModeOf(state) & 0077, 0u) << fmt::format("{} is mode {:o}", state, ModeOf(state));
  EXPECT_GT(checked, 2);
}
#endif

}  // namespace

// Not root: reads the source tree.
TEST(NoShellTest, SourcesRunNoExternalToolThroughAShell) {
  const std::filesystem::path root = DITTO_SOURCE_DIR "/src";
  // A shell command line, or exec outside the one OS boundary (host/).
  // A shell named in a string literal ("sh", "/bin/bash", "/usr/bin/sh",
  // "dash", ...), in any argv, or a "-c" argument after any program.
  const std::regex shell(
      R"((\bsystem\s*\()|(\bpopen\s*\()|(\bwordexp\s*\()|)"
      R"(("((/usr)?(/local)?/s?bin/)?(ba|da|z|k|mk|tc|c|fi|a|bu|yash|ash)?sh")|(,\s*"-c"\s*[,}]))");
  // `dittoctl completion bash` names the shell it writes a script for: in
  // cli/kubectl/completion.cc alone the bare literal "bash" is no shell (every
  // other pattern, "/bin/bash" and "sh" included, still counts there).
  const std::regex completion_shell_name(R"("bash")");
  const std::regex exec(
      R"(\b(execv|execve|execvp|execvpe|execl|execlp|execle|posix_spawnp?|fork|vfork)\s*\()");
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    std::string ext = entry.path().extension();
    if (ext != ".cc" && ext != ".h") continue;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    int number = 0;
    std::string relative = std::filesystem::relative(entry.path(), root).string();
    while (std::getline(in, line)) {
      ++number;
      std::string code = line.substr(0, line.find("//"));  // comments may name them
      if (relative == "cli/kubectl/completion.cc") {
        code = std::regex_replace(code, completion_shell_name, "\"\"");
      }
      EXPECT_FALSE(std::regex_search(code, shell))
          << "src/" << relative << ":" << number << " runs a shell: " << line;
      if (relative.rfind("host/", 0) != 0) {
        EXPECT_FALSE(std::regex_search(code, exec))
            << "src/" << relative << ":" << number
            << " starts a process outside host/ (use Host::Run): " << line;
      }
    }
  }
  EXPECT_GT(files, 20) << "the source tree was not found at " << root;
  std::printf("permissions: %d source files scanned, no shell and no exec outside host/\n", files);
}

}  // namespace ditto::reliability
