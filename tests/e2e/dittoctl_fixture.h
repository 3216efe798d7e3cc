// The fixture of the dittoctl end-to-end tests: the built dittoctl run as a
// user runs it, with the driver in-process or in a dittod the fixture
// starts (and stops, by PID); each test works in its own namespace.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "host/linux_host.h"
#include "support/require_root.h"
#include "support/temp_dir.h"

extern char** environ;

namespace ditto::e2e {

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// Runs `argv` (no shell); a command that cannot start has code -1 and says why in err.
inline Result RunCommand(host::LinuxHost& host, const std::vector<std::string>& argv) {
  auto result = host.Run(argv);
  Result r;
  if (!result.ok()) {
    r.err = std::string(result.status().message());
    return r;
  }
  r.code = result->exit_code;
  r.out = result->stdout_text;
  r.err = result->stderr_text;
  return r;
}

// A dittod serving a pool on a unix socket, stopped by PID; `extra` are more
// dittod flags. Its output is appended to DIR/dittod.log.
class Daemon {
 public:
  ~Daemon() { Stop(); }
  bool Start(const std::string& dir, const std::string& node_id = "e2e-node",
             const std::vector<std::string>& extra = {}) {
    socket_ = dir + "/csi.sock";
    log_ = dir + "/dittod.log";
    std::vector<std::string> args = {DITTOD_PATH,   "--endpoint",  "unix://" + socket_,
                                     "--node-id",   node_id,       "--pool",
                                     dir + "/pool", "--pool-size", "4Gi"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&pid_, DITTOD_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return false;
    for (int i = 0; i < 600; ++i) {
      if (access(socket_.c_str(), F_OK) == 0) return true;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {  // exited: its log says why
        pid_ = 0;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 400; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = 0;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  std::string endpoint() const { return "unix://" + socket_; }
  std::string log() const { return ReadAll(log_); }

 private:
  pid_t pid_ = 0;
  std::string socket_;
  std::string log_;
};

enum class Mode { kInProcess, kDaemon };

// One state directory (and, for kDaemon, one dittod) per mode, shared by the
// tests of that mode; each test works in its own namespace.
struct Environment {
  std::unique_ptr<test::TempDir> dir;
  std::unique_ptr<Daemon> daemon;
  std::string state;
  std::string endpoint;
};

inline Environment* environments[2] = {nullptr, nullptr};

class DittoctlTest : public ::testing::TestWithParam<Mode> {
 protected:
  static void TearDownTestSuite() {
    for (Environment*& env : environments) {
      if (env == nullptr) continue;
      if (env->daemon) env->daemon->Stop();
      delete env;  // TempDir unmounts and detaches everything below it
      env = nullptr;
    }
  }

  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    Environment*& env = environments[static_cast<int>(GetParam())];
    if (env == nullptr) {
      env = new Environment;
      env->dir = std::make_unique<test::TempDir>("dittoctl-e2e");
      env->state = env->dir->Join("state");
      if (GetParam() == Mode::kDaemon) {
        env->daemon = std::make_unique<Daemon>();
        ASSERT_TRUE(env->daemon->Start(env->dir->path())) << env->daemon->log();
        env->endpoint = env->daemon->endpoint();
      }
    }
    env_ = env;
    ns_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : ns_) c = (c == '_' || c == '/') ? '-' : static_cast<char>(std::tolower(c));
    ns_ = ns_.substr(0, 40);
    while (!ns_.empty() && !std::isalnum(static_cast<unsigned char>(ns_.back()))) ns_.pop_back();
    files_ = env_->dir->Join("files-" + ns_);
    mkdir(files_.c_str(), 0755);
    Result created = Ctl({"create", "namespace", ns_});
    ASSERT_EQ(created.code, 0) << created.err;
  }

  Result Ctl(std::vector<std::string> args, std::vector<std::string> extra_globals = {}) {
    std::vector<std::string> argv = {DITTOCTL_PATH, "--state", env_->state, "--pool-size", "4Gi"};
    if (!env_->endpoint.empty()) {
      argv.push_back("--endpoint");
      argv.push_back(env_->endpoint);
    }
    for (auto& g : extra_globals) argv.push_back(g);
    for (auto& a : args) argv.push_back(a);
    return RunCommand(host_, argv);
  }

  // Writes `yaml` (with NS replaced by this test's namespace) and applies it.
  Result Apply(const std::string& name, const std::string& yaml) {
    std::string text = yaml;
    for (size_t at = text.find("NS"); at != std::string::npos; at = text.find("NS", at)) {
      text.replace(at, 2, ns_);
    }
    std::string path = files_ + "/" + name + ".yaml";
    WriteFile(path, text);
    return Ctl({"apply", "-f", path});
  }

  std::string Pvc(const std::string& name, const std::string& size,
                  const std::string& extra_spec = "", const std::string& sc = "cloning-NS") {
    return fmt::format(R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {}
  namespace: NS
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: {}
  resources:
    requests:
      storage: {}
{})",
                       name, sc, size, extra_spec);
  }

  void CreateClass(const std::string& extra = "", const std::string& name = "cloning-NS",
                   const std::string& provisioner = "ditto.csi.dev") {
    Result r = Apply("class-" + name, fmt::format(R"(apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {}
provisioner: {}
allowVolumeExpansion: true
{})",
                                                  name, provisioner, extra));
    ASSERT_EQ(r.code, 0) << r.err;
  }

  std::string Phase(const std::string& pvc) {
    Result r = Ctl({"get", "pvc", pvc, "-n", ns_, "--no-headers"});
    std::istringstream in(r.out);
    std::string name, phase;
    in >> name >> phase;
    return phase;
  }

  std::string Describe(const std::string& pvc) {
    return Ctl({"describe", "pvc", pvc, "-n", ns_}).out;
  }

  std::string Mnt(const std::string& name) { return files_ + "/mnt-" + name; }

  void TearDown() override {
    if (env_ == nullptr) return;
    // Unmount what this test mounted (ignore failures: nothing may be left).
    for (const char* name : {"a", "b", "c", "d"}) Ctl({"unmount", Mnt(name)});
  }

  host::LinuxHost host_;
  Environment* env_ = nullptr;
  std::string ns_;
  std::string files_;
};

}  // namespace ditto::e2e
