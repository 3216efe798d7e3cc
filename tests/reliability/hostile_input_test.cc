// Hostile input, table-driven: IDs with "..", "/", NUL and 10 KB strings;
// relative or odd staging/target paths (/proc, /sys, symlinks pointing out);
// negative, zero and overflowing sizes; fs_type, parameters and mount flags
// carrying shell or option injection; bad pagination tokens. Each must get a
// clear error (a non-empty message of bounded size, never INTERNAL/UNKNOWN),
// change nothing on disk or in the mount table, and leave dittod serving.
//
// Then dittoctl's YAML: alias bombs, deep nesting, a 50 MB document,
// duplicate keys, NUL bytes — each a clear error with nothing applied.
//
// Prints the number of inputs tried.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "fmt/format.h"
#include "reliability/daemon_fixture.h"

namespace ditto::reliability {
namespace {

using Code = grpc::StatusCode;

constexpr size_t kMaxMessageBytes = 2048;
// How many hostile gRPC requests the suite sends, how many of them the CSI
// spec answers OK, and how many hostile YAML files dittoctl gets.
constexpr int kGrpcCases = 561;
constexpr int kGrpcSpecOk = 38;
constexpr int kYamlCases = 22;

struct Case {
  std::string name;
  std::function<grpc::Status(CsiClient&)> call;
  // Codes that count as a correct refusal. OK is listed only where the spec
  // makes the call succeed (e.g. DeleteVolume of an unknown ID).
  std::set<Code> allowed;
  // A phrase the error message must hold ("" for none).
  std::string says;
};

std::string Printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text.substr(0, 60)) {
    out += c >= 0x20 && c < 0x7f ? std::string(1, c) : fmt::format("\\x{:02x}", c);
  }
  return text.size() > 60 ? out + fmt::format("...({} bytes)", text.size()) : out;
}

class HostileInputTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(StartDaemon());
    pb::CreateVolumeResponse created;
    ASSERT_TRUE(csi().CreateVolume(VolumeRequest("staged", 32 << 20), &created).ok());
    staged_ = created.volume().volume_id();
    staging_ = work_.StagingPath("staged");
    target_ = work_.TargetPath("staged");
    ASSERT_TRUE(csi().NodeStage(staged_, staging_).ok());
    ASSERT_TRUE(csi().NodePublish(staged_, staging_, target_).ok());
    ASSERT_TRUE(csi().CreateVolume(VolumeRequest("fresh", 32 << 20), &created).ok());
    fresh_ = created.volume().volume_id();
    pb::CreateSnapshotResponse snap;
    ASSERT_TRUE(csi().CreateSnapshot("snap", staged_, &snap).ok());
    snapshot_ = snap.snapshot().snapshot_id();
    // A directory outside the driver's paths, and links pointing at it.
    outside_ = work_.Join("outside");
    ASSERT_EQ(::mkdir(outside_.c_str(), 0755), 0);
    ASSERT_TRUE(WriteFileSynced(outside_ + "/sentinel", "untouched").ok());
    ASSERT_EQ(::symlink(outside_.c_str(), work_.Join("stage/link-out").c_str()), 0);
    ASSERT_EQ(::symlink(outside_.c_str(), work_.Join("pub/link-out").c_str()), 0);
    ASSERT_EQ(::symlink("/proc/self", work_.Join("stage/link-proc").c_str()), 0);
  }

  void TearDown() override {
    if (daemon_) {
      (void)csi().NodeUnpublish(staged_, target_);
      (void)csi().NodeUnstage(staged_, staging_);
    }
    DaemonTest::TearDown();
  }

  // What must not change: the pool (catalog rows, files), the mount table,
  // the directory outside.
  std::string Observe() {
    auto state = ReadPoolState(work_.DataDir());
    std::string out = state.ok() ? state->Fingerprint() : std::string(state.status().message());
    // System mounts and ours; other tests running at the same time mount
    // and unmount below their own /tmp directories.
    for (const auto& mount : MountTargets()) {
      if (mount.rfind("/tmp/", 0) != 0 || mount.rfind(work_.path() + "/", 0) == 0) {
        out += "mount " + mount + "\n";
      }
    }
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(outside_, error)) {
      out += "outside " + entry.path().filename().string() + "\n";
    }
    auto sentinel = ReadWholeFile(outside_ + "/sentinel");
    out += "sentinel " + (sentinel.ok() ? *sentinel : std::string("missing")) + "\n";
    return out;
  }

  std::vector<Case> GrpcCases();
  // Runs every case; returns how many were tried and counts in `failed` the
  // cases that failed a check.
  int RunCases(const std::vector<Case>& cases, int* failed);
  // After a case that changed something: unmounts what it mounted below the
  // workspace and deletes the volumes and snapshots it made, so one defect
  // does not fail every later case.
  void Restore(const std::vector<std::string>& mounts_before);

  std::string staged_, staging_, target_, fresh_, snapshot_, outside_;
  std::map<Code, int> answers_;  // how many cases got each code
  std::map<std::string, int> said_;  // how many errors held each Case::says phrase
};

std::vector<std::string> HostileIds() {
  std::string nul_id = "vol-0123456789abcdef0123456789abcdef";
  nul_id[6] = '\0';
  return {
      "",
      "..",
      "../../../../etc/passwd",
      "/etc/passwd",
      "vol-../../x",
      "vol-0123456789abcdef0123456789abcdef/../../x",
      "vol-0123456789abcdef0123456789abcdef/",
      nul_id,
      std::string("vol-\0abc", 8),
      std::string(10 * 1024, 'a'),
      "vol-" + std::string(10 * 1024, 'f'),
      "vol-0123456789ABCDEF0123456789ABCDEF",
      "vol-%2e%2e%2f",
      "vol-\xff\xfe\xfd",
      " vol-0123456789abcdef0123456789abcdef",
      "snap-0123456789abcdef0123456789abcdef\n",
      "*",
      "$(reboot)",
  };
}

std::vector<Case> HostileInputTest::GrpcCases() {
  std::vector<Case> cases;
  const std::string stage = work_.StagingPath("hostile");
  const std::string target = work_.TargetPath("hostile");

  // ---- IDs ----
  for (const std::string& id : HostileIds()) {
    std::string tag = Printable(id);
    const size_t first_case = cases.size();
    // Not UTF-8: gRPC cannot decode the request (proto3 strings), and the
    // driver's interceptor answers INVALID_ARGUMENT. A delete of an ID that
    // names nothing is OK (the CSI spec), unless the request is undecodable.
    const bool utf8 = id.find('\xff') == std::string::npos;
    const std::set<Code> refused = {Code::INVALID_ARGUMENT, Code::NOT_FOUND};
    const std::set<Code> refused_or_ok =
        utf8 ? std::set<Code>{Code::INVALID_ARGUMENT, Code::NOT_FOUND, Code::OK}
             : std::set<Code>{Code::INVALID_ARGUMENT};
    cases.push_back(
        {"DeleteVolume " + tag, [=, this](CsiClient& c) { return c.DeleteVolume(id); }, refused_or_ok});
    cases.push_back({"DeleteSnapshot " + tag, [=, this](CsiClient& c) { return c.DeleteSnapshot(id); },
                     refused_or_ok});
    cases.push_back({"ControllerExpandVolume " + tag,
                     [=, this](CsiClient& c) { return c.ControllerExpandVolume(id, 64 << 20); },
                     refused});
    cases.push_back({"CreateSnapshot of " + tag,
                     [=, this](CsiClient& c) { return c.CreateSnapshot("hostile-snap", id); }, refused});
    cases.push_back(
        {"CreateVolume clone of " + tag,
         [=, this](CsiClient& c) { return c.CreateVolume(CloneRequest("hostile-clone", id)); }, refused});
    cases.push_back(
        {"CreateVolume restore of " + tag,
         [=, this](CsiClient& c) { return c.CreateVolume(RestoreRequest("hostile-restore", id)); },
         refused});
    cases.push_back(
        {"NodeStage " + tag, [=, this](CsiClient& c) { return c.NodeStage(id, stage); }, refused});
    cases.push_back(
        {"NodeUnstage " + tag, [=, this](CsiClient& c) { return c.NodeUnstage(id, stage); }, refused});
    cases.push_back({"NodePublish " + tag,
                     [=, this](CsiClient& c) { return c.NodePublish(id, stage, target); }, refused});
    cases.push_back({"NodeUnpublish " + tag,
                     [=, this](CsiClient& c) { return c.NodeUnpublish(id, target); }, refused});
    cases.push_back({"NodeGetVolumeStats " + tag,
                     [=, this](CsiClient& c) {
                       pb::NodeGetVolumeStatsResponse r;
                       return c.NodeGetVolumeStats(id, target_, &r);
                     },
                     refused});
    cases.push_back({"ControllerGetVolume " + tag,
                     [=, this](CsiClient& c) {
                       pb::ControllerGetVolumeRequest request;
                       request.set_volume_id(id);
                       pb::ControllerGetVolumeResponse response;
                       return c.controller().ControllerGetVolume(c.Context().get(), request,
                                                                 &response);
                     },
                     refused});
    // Every request with an ID that is not UTF-8 is refused saying so.
    if (!utf8) {
      for (size_t i = first_case; i < cases.size(); ++i) cases[i].says = "not valid UTF-8";
    }
  }

  // ---- names (a name is never a path; a 10 KB or NUL name is refused) ----
  std::string nul_name = std::string("pvc-\0x", 6);
  for (const std::string& name : {std::string(""), std::string(10 * 1024, 'n'), nul_name,
                                  std::string("pvc-\n-x"), std::string("\x01\x02")}) {
    cases.push_back({"CreateVolume name " + Printable(name),
                     [=, this](CsiClient& c) { return c.CreateVolume(VolumeRequest(name, 16 << 20)); },
                     {Code::INVALID_ARGUMENT}});
    cases.push_back({"CreateSnapshot name " + Printable(name),
                     [=, this](CsiClient& c) { return c.CreateSnapshot(name, staged_); },
                     {Code::INVALID_ARGUMENT}});
  }

  // ---- node paths (with valid volumes) ----
  std::vector<std::string> paths = {
      "",
      "relative/path",
      "./stage",
      ".",
      "/",
      "/proc",
      "/proc/self/root",
      "/proc/1/root/tmp/x",
      "/sys/kernel",
      "/sys/fs/cgroup",
      "/dev/null",
      "/dev/shm/x",
      work_.Join("stage/../../../etc"),
      work_.Join("stage/./x"),
      work_.Join("stage//x"),
      work_.Join("stage/x/"),
      work_.Join("stage/x\nother"),
      std::string(work_.Join("stage/x")) + std::string("\0/etc", 5),
      "/" + std::string(5000, 'p'),
      work_.Join("stage/link-out"),
      work_.Join("stage/link-proc"),
      work_.Join("stage/link-out/deeper"),
  };
  const std::set<Code> path_refused = {Code::INVALID_ARGUMENT, Code::FAILED_PRECONDITION,
                                       Code::NOT_FOUND, Code::ALREADY_EXISTS};
  for (const std::string& path : paths) {
    std::string tag = Printable(path);
    cases.push_back({"NodeStage at " + tag, [=, this](CsiClient& c) { return c.NodeStage(fresh_, path); },
                     path_refused});
    cases.push_back({"NodePublish to " + tag,
                     [=, this](CsiClient& c) { return c.NodePublish(staged_, staging_, path); },
                     path_refused});
    cases.push_back({"NodePublish from staging " + tag,
                     [=, this](CsiClient& c) { return c.NodePublish(staged_, path, target); },
                     path_refused});
    cases.push_back({"NodeUnpublish " + tag,
                     [=, this](CsiClient& c) { return c.NodeUnpublish(staged_, path); },
                     {Code::INVALID_ARGUMENT, Code::OK}});
    cases.push_back({"NodeUnstage " + tag,
                     [=, this](CsiClient& c) { return c.NodeUnstage(staged_, path); },
                     {Code::INVALID_ARGUMENT, Code::OK, Code::FAILED_PRECONDITION}});
    cases.push_back({"NodeGetVolumeStats " + tag,
                     [=, this](CsiClient& c) {
                       pb::NodeGetVolumeStatsResponse r;
                       return c.NodeGetVolumeStats(staged_, path, &r);
                     },
                     {Code::INVALID_ARGUMENT, Code::NOT_FOUND}});
    cases.push_back({"NodeExpandVolume " + tag,
                     [=, this](CsiClient& c) {
                       pb::NodeExpandVolumeRequest request;
                       request.set_volume_id(staged_);
                       request.set_volume_path(path);
                       pb::NodeExpandVolumeResponse response;
                       return c.node().NodeExpandVolume(c.Context().get(), request, &response);
                     },
                     {Code::INVALID_ARGUMENT, Code::NOT_FOUND}});
  }
  // Publishing through a symlink that points out of the CO's directories
  // (a multi-writer mode, so the existing publish does not refuse it first).
  for (const std::string& path : {work_.Join("pub/link-out"), work_.Join("pub/link-out/deeper"),
                                  work_.Join("stage/link-proc")}) {
    cases.push_back({"NodePublish (multi-writer) to " + Printable(path),
                     [=, this](CsiClient& c) {
                       pb::NodePublishVolumeRequest request;
                       request.set_volume_id(staged_);
                       request.set_staging_target_path(staging_);
                       request.set_target_path(path);
                       *request.mutable_volume_capability() = MountCapability();
                       request.mutable_volume_capability()->mutable_access_mode()->set_mode(
                           pb::VolumeCapability::AccessMode::SINGLE_NODE_MULTI_WRITER);
                       pb::NodePublishVolumeResponse response;
                       return c.node().NodePublishVolume(c.Context().get(), request, &response);
                     },
                     path_refused});
  }

  // ---- sizes ----
  struct Range {
    int64_t required, limit;
    std::set<Code> allowed;
    // NodeExpandVolume: a valid range the volume already satisfies is
    // nothing to do (a limit below its size is OUT_OF_RANGE: it never shrinks).
    bool node_ok = false;
  };
  const std::set<Code> size_refused = {Code::INVALID_ARGUMENT, Code::OUT_OF_RANGE,
                                       Code::RESOURCE_EXHAUSTED};
  std::vector<Range> ranges = {
      {-1, 0, size_refused},
      {0, -1, size_refused},
      {-1, -1, size_refused},
      {INT64_MIN, 0, size_refused},
      {INT64_MAX, 0, size_refused},
      {INT64_MAX - 1, 0, size_refused},
      {INT64_MAX - 4095, INT64_MAX, size_refused},
      {(int64_t{1} << 62) + 1, 0, size_refused},
      {64 << 20, 32 << 20, size_refused},  // limit < required
      {1, 1, size_refused},                // 1 byte rounds up past the limit
      {0, 4095, size_refused},             // no whole block fits
  };
  int n = 0;
  for (const Range& range : ranges) {
    std::string tag = fmt::format("required={} limit={}", range.required, range.limit);
    std::string name = fmt::format("hostile-size-{}", n++);
    cases.push_back({"CreateVolume " + tag,
                     [=, this](CsiClient& c) {
                       pb::CreateVolumeRequest request = VolumeRequest(name, 0);
                       request.mutable_capacity_range()->set_required_bytes(range.required);
                       request.mutable_capacity_range()->set_limit_bytes(range.limit);
                       return c.CreateVolume(request);
                     },
                     range.allowed});
    cases.push_back({"CreateVolume clone " + tag,
                     [=, this](CsiClient& c) {
                       pb::CreateVolumeRequest request = CloneRequest(name + "-clone", staged_);
                       request.mutable_capacity_range()->set_required_bytes(range.required);
                       request.mutable_capacity_range()->set_limit_bytes(range.limit);
                       return c.CreateVolume(request);
                     },
                     range.allowed});
    cases.push_back({"ControllerExpandVolume " + tag,
                     [=, this](CsiClient& c) {
                       pb::ControllerExpandVolumeRequest request;
                       request.set_volume_id(fresh_);
                       request.mutable_capacity_range()->set_required_bytes(range.required);
                       request.mutable_capacity_range()->set_limit_bytes(range.limit);
                       pb::ControllerExpandVolumeResponse response;
                       return c.controller().ControllerExpandVolume(c.Context().get(), request,
                                                                    &response);
                     },
                     range.allowed});
    cases.push_back({"NodeExpandVolume " + tag,
                     [=, this](CsiClient& c) {
                       pb::NodeExpandVolumeRequest request;
                       request.set_volume_id(staged_);
                       request.set_volume_path(target_);
                       request.mutable_capacity_range()->set_required_bytes(range.required);
                       request.mutable_capacity_range()->set_limit_bytes(range.limit);
                       pb::NodeExpandVolumeResponse response;
                       return c.node().NodeExpandVolume(c.Context().get(), request, &response);
                     },
                     range.node_ok ? std::set<Code>{Code::OK} : range.allowed});
  }
  cases.push_back({"CreateVolume clone smaller than its source",
                   [=, this](CsiClient& c) {
                     return c.CreateVolume(CloneRequest("hostile-small-clone", staged_, 16 << 20));
                   },
                   {Code::OUT_OF_RANGE}});

  // ---- fs_type, parameters and mount flags ----
  std::vector<std::string> fs_types = {
      "ext4; rm -rf /",
      "xfs -f",
      "ext4 -O ^has_journal",
      "../../bin/sh",
      std::string("ext4\0", 5),
      "$(reboot)",
      "`id`",
      "btrfs",
      "vfat",
      "-V",
      "ext4\n",
      "EXT4",
      std::string(10 * 1024, 'e'),
  };
  for (const std::string& fs : fs_types) {
    std::string tag = Printable(fs);
    cases.push_back(
        {"CreateVolume fs_type " + tag,
         [=, this](CsiClient& c) { return c.CreateVolume(VolumeRequest("hostile-fs", 16 << 20, fs)); },
         {Code::INVALID_ARGUMENT}});
    cases.push_back({"CreateVolume parameter fsType " + tag,
                     [=, this](CsiClient& c) {
                       pb::CreateVolumeRequest request =
                           VolumeRequest("hostile-fs-param", 16 << 20, "");
                       (*request.mutable_parameters())["fsType"] = fs;
                       return c.CreateVolume(request);
                     },
                     {Code::INVALID_ARGUMENT}});
    cases.push_back({"NodeStage fs_type " + tag,
                     [=, this](CsiClient& c) { return c.NodeStage(fresh_, stage, fs); },
                     {Code::INVALID_ARGUMENT}});
  }
  std::vector<std::string> flags = {
      "rw,exec",
      "bind",
      "remount",
      "rbind",
      "; reboot",
      "$(id)",
      "`id`",
      "noatime nodev",
      "context=system_u:object_r:etc_t:s0",
      "loop=/dev/sda",
      "uid=0",
      "x-mount.mkdir",
      "suid",
      "dev",
      "\n",
      "ro\0rw",
      "default",
      std::string(10 * 1024, 'f'),
      "commit=-1",
      "commit=99999999999999999999",
      "data=journal,errors=continue",
      "errors=remount-ro,x",
      "acl'",
      "\"noatime\"",
      "nouuid,norecovery",
  };
  flags[15] = std::string("ro\0rw", 5);
  for (const std::string& flag : flags) {
    std::string tag = Printable(flag);
    cases.push_back({"NodeStage mount flag " + tag,
                     [=, this](CsiClient& c) {
                       pb::NodeStageVolumeRequest request;
                       request.set_volume_id(fresh_);
                       request.set_staging_target_path(stage);
                       *request.mutable_volume_capability() = MountCapability();
                       request.mutable_volume_capability()->mutable_mount()->add_mount_flags(flag);
                       pb::NodeStageVolumeResponse response;
                       return c.node().NodeStageVolume(c.Context().get(), request, &response);
                     },
                     {Code::INVALID_ARGUMENT}});
    cases.push_back({"NodePublish mount flag " + tag,
                     [=, this](CsiClient& c) {
                       pb::NodePublishVolumeRequest request;
                       request.set_volume_id(staged_);
                       request.set_staging_target_path(staging_);
                       request.set_target_path(target);
                       *request.mutable_volume_capability() = MountCapability();
                       request.mutable_volume_capability()->mutable_mount()->add_mount_flags(flag);
                       pb::NodePublishVolumeResponse response;
                       return c.node().NodePublishVolume(c.Context().get(), request, &response);
                     },
                     {Code::INVALID_ARGUMENT}});
    cases.push_back({"CreateVolume mount flag " + tag,
                     [=, this](CsiClient& c) {
                       pb::CreateVolumeRequest request = VolumeRequest("hostile-flags", 16 << 20);
                       request.mutable_volume_capabilities(0)->mutable_mount()->add_mount_flags(
                           flag);
                       return c.CreateVolume(request);
                     },
                     {Code::INVALID_ARGUMENT}});
  }
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"thick", "yes"},
                                                        {"thick", std::string(10 * 1024, 't')},
                                                        {"unknown", "x"},
                                                        {"../../etc", "x"},
                                                        {std::string(10 * 1024, 'k'), "x"},
                                                        {std::string("thick\0", 6), "true"}}) {
    cases.push_back({"CreateVolume parameter " + Printable(key) + "=" + Printable(value),
                     [=, this](CsiClient& c) {
                       pb::CreateVolumeRequest request = VolumeRequest("hostile-param", 16 << 20);
                       (*request.mutable_parameters())[key] = value;
                       return c.CreateVolume(request);
                     },
                     {Code::INVALID_ARGUMENT}});
  }

  // ---- pagination ----
  for (const std::string& token :
       {std::string("../"), std::string(10 * 1024, 't'), std::string("-1"), std::string("\0", 1),
        std::string("9999999999999999999999"), std::string("vol-../../x")}) {
    cases.push_back({"ListVolumes token " + Printable(token),
                     [=, this](CsiClient& c) {
                       pb::ListVolumesRequest request;
                       request.set_starting_token(token);
                       pb::ListVolumesResponse response;
                       return c.controller().ListVolumes(c.Context().get(), request, &response);
                     },
                     {Code::ABORTED}});
    cases.push_back({"ListSnapshots token " + Printable(token),
                     [=, this](CsiClient& c) {
                       pb::ListSnapshotsRequest request;
                       request.set_starting_token(token);
                       pb::ListSnapshotsResponse response;
                       return c.controller().ListSnapshots(c.Context().get(), request, &response);
                     },
                     {Code::ABORTED}});
  }
  cases.push_back({"ListVolumes max_entries=-1",
                   [=, this](CsiClient& c) {
                     pb::ListVolumesRequest request;
                     request.set_max_entries(-1);
                     pb::ListVolumesResponse response;
                     return c.controller().ListVolumes(c.Context().get(), request, &response);
                   },
                   {Code::INVALID_ARGUMENT}});
  return cases;
}

void HostileInputTest::Restore(const std::vector<std::string>& mounts_before) {
  std::vector<std::string> now = MountTargets();
  for (auto it = now.rbegin(); it != now.rend(); ++it) {
    if (std::find(mounts_before.begin(), mounts_before.end(), *it) != mounts_before.end()) continue;
    std::string target = it->substr(0, it->find(" <- "));
    if (target.rfind(work_.path(), 0) == 0) RunTool({"umount", target});
  }
  if (auto state = ReadPoolState(work_.DataDir()); state.ok()) {
    for (const auto& [id, path] : state->stages) {
      if (id != staged_) (void)csi().NodeUnstage(id, path);
    }
  }
  pb::ListVolumesResponse volumes;
  if (csi().ListVolumes(&volumes).ok()) {
    for (const auto& entry : volumes.entries()) {
      const std::string& id = entry.volume().volume_id();
      if (id != staged_ && id != fresh_) (void)csi().DeleteVolume(id);
    }
  }
  pb::ListSnapshotsResponse snapshots;
  pb::ListSnapshotsRequest request;
  if (csi().controller().ListSnapshots(csi().Context().get(), request, &snapshots).ok()) {
    for (const auto& entry : snapshots.entries()) {
      const std::string& id = entry.snapshot().snapshot_id();
      if (id != snapshot_) (void)csi().DeleteSnapshot(id);
    }
  }
}

int HostileInputTest::RunCases(const std::vector<Case>& cases, int* failed) {
  int tried = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    int failures_before = FailureCount();
    std::vector<std::string> mounts_before = MountTargets();
    std::string before = Observe();
    grpc::Status status = c.call(csi());
    ++tried;
    if (std::getenv("DITTO_RELIABILITY_VERBOSE") != nullptr) {
      std::printf("  %s -> %s\n", c.name.c_str(), Describe(status).substr(0, 200).c_str());
    }
    EXPECT_TRUE(c.allowed.count(status.error_code()))
        << c.name << " -> " << Describe(status).substr(0, 400);
    ++answers_[status.error_code()];
    if (!status.ok()) {
      EXPECT_FALSE(status.error_message().empty()) << c.name << ": an error without a message";
      if (!c.says.empty()) {
        EXPECT_NE(status.error_message().find(c.says), std::string::npos)
            << c.name << ": the message does not say \"" << c.says
            << "\": " << status.error_message();
        ++said_[c.says];
      }
      EXPECT_LE(status.error_message().size(), kMaxMessageBytes)
          << c.name << ": the error message repeats the input (" << status.error_message().size()
          << " bytes)";
    }
    EXPECT_EQ(Observe(), before) << c.name << " changed the pool, the mounts or the files outside";
    grpc::Status probe = csi().Probe();
    if (!probe.ok()) {
      ADD_FAILURE() << "dittod stopped serving after " << c.name << ": " << Describe(probe) << "\n"
                    << daemon().LogTail(2000);
      ++*failed;
      return tried;
    }
    if (FailureCount() != failures_before) {
      ++*failed;
      if (Observe() != before) Restore(mounts_before);
    }
  }
  return tried;
}

TEST_F(HostileInputTest, GrpcRequestsGetClearErrorsAndChangeNothing) {
  std::vector<Case> cases = GrpcCases();
  int failed = 0;
  int tried = RunCases(cases, &failed);
  ASSERT_NO_FATAL_FAILURE(StopDaemon());
  auto problems = PoolProblems();
  EXPECT_TRUE(problems.empty()) << JoinLines(problems);
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  int ok = answers_[Code::OK];
  std::printf(
      "hostile input: %d gRPC inputs tried, %d answered with an error and its message, %d "
      "with the CSI spec's OK (deletes of IDs that name nothing, unpublish/unstage of paths "
      "with nothing mounted), %d failed a check\n",
      tried, tried - ok, ok, failed);
  std::string codes;
  for (const auto& [code, count] : answers_) {
    codes += fmt::format(" {}={}", ditto::StatusCodeName(code), count);
  }
  std::printf("hostile input: answers by code:%s\n", codes.c_str());
  // The figures docs/reliability.md gives; a change to the cases changes them there.
  EXPECT_EQ(tried, kGrpcCases);
  EXPECT_EQ(ok, kGrpcSpecOk);
  EXPECT_EQ(answers_[Code::INTERNAL], 0) << "INTERNAL says nothing about what was wrong";
  // Every request of the ID that is not UTF-8 said so (12 kinds of request).
  EXPECT_EQ(said_["not valid UTF-8"], 12);
  EXPECT_EQ(answers_[Code::UNKNOWN], 0);
  EXPECT_EQ(failed, 0);
}

#ifdef DITTOCTL_PATH
// Runs dittoctl with at most 2 GiB of address space and `timeout`; returns
// the exit code (-SIGNAL when killed) and stdout+stderr.
struct CtlResult {
  int code = 0;
  std::string output;
  double seconds = 0;
};

CtlResult RunLimited(std::vector<std::string> args, const std::string& log,
                     std::chrono::seconds timeout) {
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
#if !defined(__SANITIZE_ADDRESS__)
    // (An AddressSanitizer build reserves terabytes of address space for its
    // shadow memory, so it cannot run under this limit.)
    struct rlimit limit = {rlim_t{2} << 30, rlim_t{2} << 30};
    setrlimit(RLIMIT_AS, &limit);
#endif
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  CtlResult result;
  int status = 0;
  for (;;) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    if (std::chrono::steady_clock::now() - start > timeout) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  auto text = ReadWholeFile(log);
  result.output = text.ok() ? *text : "";
  return result;
}

std::string Repeat(const std::string& text, size_t times) {
  std::string out;
  out.reserve(text.size() * times);
  for (size_t i = 0; i < times; ++i) out += text;
  return out;
}

constexpr char kPvcHead[] = R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: hostile
  namespace: default
)";
constexpr char kPvcSpec[] = R"(spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 16Mi
)";

TEST_F(HostileInputTest, DittoctlYamlGetsClearErrorsAndAppliesNothing) {
  const std::string state = work_.Join("state");
  auto ctl = [&](std::vector<std::string> args,
                 std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::vector<std::string> argv = {DITTOCTL_PATH, "--state", state, "--pool-size", "1Gi"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunLimited(argv, work_.Join("dittoctl.out"), timeout);
  };
  // A valid object first, so "nothing applied" has something to compare.
  ASSERT_TRUE(WriteFileSynced(work_.Join("ok.yaml"), std::string(kPvcHead) + kPvcSpec).ok());
  CtlResult ok = ctl({"apply", "-f", work_.Join("ok.yaml")});
  ASSERT_EQ(ok.code, 0) << ok.output;
  auto observe = [&] {
    std::string out = ctl({"get", "pvc,pv,ns", "-A", "-o", "yaml"}).output;
    auto pool = ReadPoolState(state + "/pool/data");
    if (!pool.ok()) pool = ReadPoolState(state + "/pool");
    return out + (pool.ok() ? pool->Fingerprint() : std::string(pool.status().message()));
  };
  std::string before = observe();

  std::string bomb = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    bomb += fmt::format("a{}: &a{} [", i, i);
    for (int j = 0; j < 10; ++j) bomb += fmt::format("{}*a{}", j ? ", " : "", i - 1);
    bomb += "]\n";
  }
  std::string key_bomb = std::string(kPvcHead) + "  annotations: &x {a: b}\n" + kPvcSpec;
  std::string nested_maps;
  for (int i = 0; i < 20000; ++i) nested_maps += std::string(i % 200, ' ') + "a:\n";
  std::vector<std::pair<std::string, std::string>> inputs = {
      {"alias bomb (10^9 nodes)", bomb},
      {"alias bomb inside a claim",
       std::string(kPvcHead) + "  labels:\n    x: y\n" + kPvcSpec + bomb},
      {"deep flow nesting", Repeat("[", 200000) + Repeat("]", 200000)},
      {"deep mapping nesting", Repeat("{a: ", 100000) + "b" + Repeat("}", 100000)},
      {"deep block nesting", nested_maps},
      {"50 MB annotation", std::string(kPvcHead) + "  annotations:\n    big: \"" +
                               std::string(50 << 20, 'x') + "\"\n" + kPvcSpec},
      {"50 MB of documents", Repeat("---\n# filler\n", (50 << 20) / 14)},
      {"3.5 million empty documents", Repeat("---\n", 3500000) + "---\n{a: [}\n"},
      {"duplicate key", std::string(kPvcHead) + "  name: other\n" + kPvcSpec},
      {"duplicate top-level key", std::string(kPvcHead) + kPvcSpec + "kind: Namespace\n"},
      {"merge key", std::string(kPvcHead) + "  labels:\n    <<: {a: b}\n" + kPvcSpec},
      {"alias as a key", key_bomb + "*x: 1\n"},
      {"NUL byte", std::string(kPvcHead) + std::string("  labels: {a: \"\0\"}\n", 18) + kPvcSpec},
      {"invalid UTF-8", std::string(kPvcHead) + "  labels: {a: \"\xff\xfe\"}\n" + kPvcSpec},
      {"python tag", "!!python/object/apply:os.system [\"touch /tmp/pwned\"]\n"},
      {"unterminated quote", std::string(kPvcHead) + "  labels: {a: \"b}\n"},
      {"tab indentation", "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: tabbed\n"},
      {"name with path", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ../../etc\n"},
      {"10 KB name",
       "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + std::string(10 * 1024, 'n') + "\n"},
      {"negative size", std::string(kPvcHead) +
                            "spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n"
                            "      storage: -5Gi\n"},
      {"overflowing size", std::string(kPvcHead) +
                               "spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    "
                               "requests:\n      storage: 99999999999Ei\n"},
      {"one bad document of two",
       "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: half-applied\n---\n" +
           std::string(kPvcHead) + "  name: twice\n" + kPvcSpec},
  };
  int tried = 0, clear = 0;
  for (const auto& [what, yaml] : inputs) {
    SCOPED_TRACE(what);
    std::string file = work_.Join("hostile.yaml");
    ASSERT_TRUE(WriteFileSynced(file, yaml).ok());
    CtlResult result = ctl({"apply", "-f", file});
    ++tried;
    if (std::getenv("DITTO_RELIABILITY_VERBOSE") != nullptr) {
      std::printf("  dittoctl apply %s -> exit %d in %.1fs: %s\n", what.c_str(), result.code,
                  result.seconds, result.output.substr(0, 200).c_str());
    }
    bool good = true;
    if (result.code <= 0) {
      good = false;
      ADD_FAILURE() << what << ": dittoctl " << (result.code == 0 ? "accepted it" : "was killed")
                    << " (exit " << result.code << ", " << result.seconds << " s)\n"
                    << result.output.substr(0, 2000);
    } else if (result.output.find(file) == std::string::npos || result.output.size() > 65536) {
      // Like kubectl, the message may quote the offending value; it must
      // name the file.
      good = false;
      ADD_FAILURE() << what << ": no clear error naming the file (" << result.output.size()
                    << " bytes of output): " << result.output.substr(0, 300);
    }
    std::string after = observe();
    if (after != before) {
      good = false;
      ADD_FAILURE() << what << ": something was applied";
      before = after;  // judge the next input on its own
    }
    if (good) ++clear;
  }
  struct stat pwned;
  EXPECT_NE(::stat("/tmp/pwned", &pwned), 0);
  std::printf(
      "hostile input: %d dittoctl YAML inputs tried, %d refused with a clear error and "
      "nothing applied\n",
      tried, clear);
  EXPECT_EQ(tried, kYamlCases);
  EXPECT_EQ(clear, tried);
}
#endif

}  // namespace
}  // namespace ditto::reliability
