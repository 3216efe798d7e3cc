#include "bench/dittod_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "csi.grpc.pb.h"
#include "fmt/format.h"

namespace ditto::bench {
namespace {

std::string LogTail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
}

}  // namespace

std::unique_ptr<DittodProcess> DittodProcess::Start(const DittodOptions& options) {
  std::unique_ptr<DittodProcess> process(new DittodProcess(options));
  std::vector<std::string> args = {options.binary,           "--endpoint",
                                   "unix://" + options.socket, "--node-id",
                                   options.node_id,          "--pool",
                                   options.pool_dir,         "--log-level",
                                   options.log_level};
  if (!options.metrics_address.empty()) {
    args.push_back("--metrics-address");
    args.push_back(options.metrics_address);
  }
  if (!options.pool_size.empty()) {
    args.push_back("--pool-size");
    args.push_back(options.pool_size);
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int log = ::open(options.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) Die(fmt::format("open {}: {}", options.log_file, std::strerror(errno)));
  pid_t pid = ::fork();
  if (pid < 0) Die(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log);
  process->pid_ = pid;

  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      process->pid_ = -1;
      Die(fmt::format("dittod exited during startup (status {}); its log {}:\n{}", status,
                      options.log_file, LogTail(options.log_file)));
    }
    if (FileExists(options.socket)) {
      auto stub = csi::v1::Identity::NewStub(process->NewChannel());
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      csi::v1::ProbeResponse response;
      grpc::Status status = stub->Probe(&context, csi::v1::ProbeRequest(), &response);
      if (status.ok() && (!response.has_ready() || response.ready().value())) return process;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  process->Stop();
  Die(fmt::format("dittod did not become ready within 60 s; its log {}:\n{}", options.log_file,
                  LogTail(options.log_file)));
}

DittodProcess::~DittodProcess() { Stop(); }

std::shared_ptr<grpc::Channel> DittodProcess::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel("unix://" + options_.socket, grpc::InsecureChannelCredentials(),
                                   args);
}

void DittodProcess::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      Progress(fmt::format("dittod (pid {}) ignored SIGTERM for 30 s; killing it", pid_));
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

}  // namespace ditto::bench
