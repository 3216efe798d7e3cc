// LinuxHost behaviour that needs no root: files in a temporary directory,
// running tools, mountinfo parsing and errno mapping.
#include <errno.h>
#include <fcntl.h>
#include <gmock/gmock.h>

#include <chrono>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "host/linux_host.h"
#include "host/posix_error.h"
#include "support/temp_dir.h"

namespace ditto::host {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class LinuxHostFilesTest : public ::testing::Test {
 protected:
  test::TempDir dir_;
  LinuxHost host_;
};

TEST_F(LinuxHostFilesTest, DirectoriesListingAndRemoval) {
  ASSERT_TRUE(host_.MakeDirectories(dir_.Join("a/b/c"), 0700).ok());
  ASSERT_TRUE(host_.MakeDirectories(dir_.Join("a/b/c"), 0700).ok());  // idempotent
  ASSERT_TRUE(host_.Touch(dir_.Join("a/file")).ok());
  ASSERT_TRUE(host_.Touch(dir_.Join("a/file")).ok());
  EXPECT_THAT(*host_.ListDirectory(dir_.Join("a")), ElementsAre("b", "file"));
  StatusOr<FileInfo> info = host_.Stat(dir_.Join("a/b/c"));
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->is_directory);
  EXPECT_EQ(info->mode, 0700u);  // exactly, whatever the umask
  EXPECT_EQ(host_.MakeDirectories(dir_.Join("a/file/x"), 0755).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(host_.Remove(dir_.Join("a/b")).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(host_.Remove(dir_.Join("a/b/c")).ok());
  ASSERT_TRUE(host_.Remove(dir_.Join("a/file")).ok());
  EXPECT_EQ(host_.Remove(dir_.Join("a/file")).code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*host_.ListDirectory(dir_.Join("a")), ElementsAre("b"));
  EXPECT_THAT(*host_.ListDirectory(dir_.Join("a/b")), IsEmpty());
  EXPECT_EQ(*host_.RealPath(dir_.Join("a/b/../b/.")), dir_.Join("a/b"));
  EXPECT_EQ(host_.RealPath(dir_.Join("none")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LinuxHostFilesTest, StatDoesNotFollowSymlinks) {
  ASSERT_EQ(::symlink("/nonexistent", dir_.Join("link").c_str()), 0);
  StatusOr<FileInfo> info = host_.Stat(dir_.Join("link"));
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->is_symlink);
  StatusOr<FileInfo> missing = host_.Stat(dir_.Join("missing"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(dir_.Join("missing")));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("No such file or directory"));
}

TEST_F(LinuxHostFilesTest, SparseFileWriteReadResizeAllocate) {
  const std::string path = dir_.Join("v.img");
  ASSERT_TRUE(host_.CreateSparseFile(path, 64 << 20).ok());
  EXPECT_EQ(host_.CreateSparseFile(path, 1).code(), absl::StatusCode::kAlreadyExists);
  StatusOr<FileInfo> info = host_.Stat(path);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->is_regular);
  EXPECT_EQ(info->size, 64u << 20);
  EXPECT_EQ(info->allocated_bytes, 0u);
  EXPECT_EQ(info->mode, 0600u);

  ASSERT_TRUE(host_.WriteAt(path, 1 << 20, "hello").ok());
  EXPECT_EQ(*host_.ReadAt(path, (1 << 20) - 1, 7), std::string("\0hello\0", 7));
  EXPECT_EQ(*host_.ReadAt(path, (64 << 20) - 2, 10), std::string(2, '\0'));  // short at EOF
  EXPECT_EQ(host_.WriteAt(dir_.Join("none"), 0, "x").code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(host_.Resize(path, 128 << 20).ok());
  EXPECT_EQ(host_.Stat(path)->size, 128u << 20);
  uint64_t before = host_.Stat(path)->allocated_bytes;
  ASSERT_TRUE(host_.Allocate(path, 100 << 20, 4 << 20).ok());
  EXPECT_GE(host_.Stat(path)->allocated_bytes, before + (4 << 20));
  ASSERT_TRUE(host_.SyncFile(path).ok());
  ASSERT_TRUE(host_.SyncDirectory(dir_.path()).ok());
  ASSERT_TRUE(host_.SetMode(path, 0640).ok());
  EXPECT_EQ(host_.Stat(path)->mode, 0640u);
  EXPECT_EQ(*host_.BlockDeviceSize(path), 128u << 20);  // a regular file reports its size
}

TEST_F(LinuxHostFilesTest, WriteFileAtomicallyReplacesAndKeepsMode) {
  const std::string path = dir_.Join("config.json");
  ASSERT_TRUE(host_.WriteFileAtomically(path, "one").ok());
  EXPECT_EQ(*host_.ReadFile(path), "one");
  ASSERT_TRUE(host_.SetMode(path, 0644).ok());
  ASSERT_TRUE(host_.WriteFileAtomically(path, std::string(100000, 'x')).ok());
  EXPECT_EQ(host_.ReadFile(path)->size(), 100000u);
  EXPECT_EQ(host_.Stat(path)->mode, 0644u);
  EXPECT_THAT(*host_.ListDirectory(dir_.path()), ElementsAre("config.json"));  // no temp left
  EXPECT_EQ(host_.WriteFileAtomically(dir_.Join("none/x"), "y").code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(host_.Rename(path, dir_.Join("moved.json")).ok());
  EXPECT_EQ(*host_.ReadFile(dir_.Join("moved.json")), std::string(100000, 'x'));
}

TEST_F(LinuxHostFilesTest, ReadFileReadsProcFiles) {
  StatusOr<std::string> mountinfo = host_.ReadFile("/proc/self/mountinfo");
  ASSERT_TRUE(mountinfo.ok());
  EXPECT_FALSE(mountinfo->empty());
  StatusOr<std::vector<MountEntry>> mounts = host_.ListMounts();
  ASSERT_TRUE(mounts.ok());
  bool root = false;
  for (const MountEntry& mount : *mounts) root = root || mount.target == "/";
  EXPECT_TRUE(root);
}

TEST_F(LinuxHostFilesTest, StatFilesystemOfTmp) {
  StatusOr<FilesystemInfo> fs = host_.StatFilesystem(dir_.path());
  ASSERT_TRUE(fs.ok());
  EXPECT_FALSE(fs->type.empty());
  EXPECT_GT(fs->capacity_bytes, 0u);
  EXPECT_LE(fs->available_bytes, fs->free_bytes);
  EXPECT_LE(fs->free_bytes, fs->capacity_bytes);
  EXPECT_EQ(host_.StatFilesystem(dir_.Join("none")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LinuxHostFilesTest, SparseCopyOfAHoleOnlyFile) {
  ASSERT_TRUE(host_.CreateSparseFile(dir_.Join("empty"), 1 << 30).ok());
  ASSERT_TRUE(host_.SparseCopy(dir_.Join("empty"), dir_.Join("copy")).ok());
  EXPECT_EQ(host_.Stat(dir_.Join("copy"))->size, 1u << 30);
  EXPECT_EQ(host_.Stat(dir_.Join("copy"))->allocated_bytes, 0u);
  EXPECT_EQ(host_.SparseCopy(dir_.Join("empty"), dir_.Join("copy")).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(host_.SparseCopy(dir_.Join("none"), dir_.Join("copy2")).code(),
            absl::StatusCode::kNotFound);
}

// ---- Run ----

TEST(LinuxHostRunTest, CapturesStdoutAndExitCode) {
  LinuxHost host;
  StatusOr<CommandResult> result = host.Run({"echo", "hello", "two words"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->stdout_text, "hello two words\n");
  EXPECT_EQ(result->stderr_text, "");
}

TEST(LinuxHostRunTest, NonZeroExitIsAResultNotAnError) {
  LinuxHost host;
  StatusOr<CommandResult> result = host.Run({"ls", "/nonexistent-ditto-path"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 2);
  EXPECT_EQ(result->stdout_text, "");
  EXPECT_THAT(result->stderr_text, HasSubstr("nonexistent-ditto-path"));
  EXPECT_EQ(host.Run({"false"})->exit_code, 1);
}

TEST(LinuxHostRunTest, ACommandPastItsTimeoutIsKilledAndReported) {
  LinuxHost host(std::chrono::milliseconds(300));
  auto start = std::chrono::steady_clock::now();
  StatusOr<CommandResult> result = host.Run({"sleep", "30"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("was killed"));
  EXPECT_LT(took, std::chrono::seconds(10));
  // Within the timeout, commands run as always.
  EXPECT_TRUE(host.Run({"true"}).ok());
}

TEST(LinuxHostRunTest, ArgumentsAreNotInterpretedByAShell) {
  LinuxHost host;
  StatusOr<CommandResult> result = host.Run({"echo", "$HOME;", "`id`", "*"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->stdout_text, "$HOME; `id` *\n");
}

TEST(LinuxHostRunTest, MinimalEnvironment) {
  LinuxHost host;
  StatusOr<CommandResult> result = host.Run({"env"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->stdout_text, std::string("PATH=") + LinuxHost::kToolPath + "\nLANG=C\n");
}

TEST(LinuxHostRunTest, LargeOutputOnBothStreamsDoesNotDeadlock) {
  LinuxHost host;
  StatusOr<CommandResult> err =
      host.Run({"dd", "if=/dev/zero", "of=/dev/stderr", "bs=1M", "count=3", "status=none"});
  ASSERT_TRUE(err.ok()) << err.status();
  EXPECT_EQ(err->exit_code, 0);
  EXPECT_EQ(err->stderr_text.size(), 3u << 20);
  StatusOr<CommandResult> out = host.Run({"head", "-c", "5000000", "/dev/zero"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->stdout_text.size(), 5000000u);
}

TEST(LinuxHostRunTest, ChildInheritsNoOtherDescriptors) {
  LinuxHost host;
  int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 0);
  ASSERT_EQ(::dup2(leaked, 100), 100);
  StatusOr<CommandResult> result = host.Run({"ls", "/proc/self/fd"});
  ::close(100);
  ::close(leaked);
  ASSERT_TRUE(result.ok());
  // 0-2 plus the descriptor ls itself opens to read the directory.
  EXPECT_EQ(result->stdout_text, "0\n1\n2\n3\n");
}

TEST(LinuxHostRunTest, StdinIsEmpty) {
  LinuxHost host;
  StatusOr<CommandResult> result = host.Run({"cat"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->stdout_text, "");
}

TEST(LinuxHostRunTest, RefusesUnknownTools) {
  LinuxHost host;
  StatusOr<CommandResult> unknown = host.Run({"ditto-no-such-tool", "x"});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("ditto-no-such-tool"));
  EXPECT_EQ(host.Run({"/nonexistent/ditto-tool"}).status().code(), absl::StatusCode::kNotFound);
  test::TempDir dir;
  ASSERT_TRUE(host.WriteFileAtomically(dir.Join("not-executable"), "data").ok());
  EXPECT_EQ(host.Run({dir.Join("not-executable")}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(host.Run({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LinuxHostRunTest, SignalledChildReportsTheSignal) {
  LinuxHost host;
  // timeout(1) with -s KILL kills its own child; --preserve-status reports it.
  StatusOr<CommandResult> result =
      host.Run({"timeout", "--preserve-status", "-s", "KILL", "0.1", "sleep", "10"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->exit_code, 128 + 9);
}

// ---- parsing and errno mapping ----

TEST(ParseMountInfoTest, ParsesFieldsAndUnescapes) {
  const std::string text =
      "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
      "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root "
      "rw,errors=continue\n"
      "40 22 7:3 / /tmp/p ro - xfs /dev/loop3 ro,attr2\n";
  StatusOr<std::vector<MountEntry>> mounts = ParseMountInfo(text);
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_EQ(mounts->size(), 3u);
  EXPECT_EQ((*mounts)[0].target, "/proc");
  EXPECT_EQ((*mounts)[0].fs_type, "proc");
  EXPECT_EQ((*mounts)[1].target, "/mnt/with space");
  EXPECT_EQ((*mounts)[1].root, "/mnt1");
  EXPECT_EQ((*mounts)[1].source, "/dev/root");
  EXPECT_EQ((*mounts)[1].device_number, "98:0");
  EXPECT_EQ((*mounts)[1].options, "rw,noatime");
  EXPECT_EQ((*mounts)[2].options, "ro");
  EXPECT_EQ((*mounts)[2].fs_type, "xfs");
  EXPECT_EQ(ParseMountInfo("1 2 3\n").status().code(), absl::StatusCode::kInternal);
}

TEST(PosixErrorTest, MapsErrnoToCanonicalCodes) {
  EXPECT_EQ(PosixError("x", ENOENT).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(PosixError("x", EEXIST).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(PosixError("x", EACCES).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(PosixError("x", EPERM).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(PosixError("x", ENOSPC).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PosixError("x", EDQUOT).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PosixError("x", EBUSY).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(PosixError("x", EINVAL).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PosixError("x", EOPNOTSUPP).code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(PosixError("x", EXDEV).code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(PosixError("x", EIO).code(), absl::StatusCode::kInternal);
  Status status = PosixError("open /pool/a.img", ENOSPC);
  EXPECT_THAT(std::string(status.message()), HasSubstr("open /pool/a.img"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("No space left on device"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("free space"));
}

}  // namespace
}  // namespace ditto::host
