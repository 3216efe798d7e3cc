// dittoctl's pool commands (`pool`, `volume`, `snapshot`) on a real pool, as
// an operator runs them: each -o json answer parses and says what the command
// did, the images it names hold what they should, and wrong input gets an
// error naming what was wrong, with nothing changed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "fmt/format.h"
#include "support/pool_paths.h"
#include "reliability/harness.h"
#include "support/require_root.h"
#include "support/sha256.h"
#include "support/test_data.h"

namespace ditto::reliability {
namespace {

class DittoctlPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { DITTO_REQUIRE_ROOT(); }

  ToolResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), DITTOCTL_PATH);
    ToolResult result = RunTool(args);
    ++commands_;
    return result;
  }
  // Runs a command that must succeed with -o json; returns its parsed output.
  nlohmann::json Json(std::vector<std::string> args) {
    // `pool` commands name the pool as their argument; the others take --pool.
    if (args.front() != "pool") args.insert(args.end(), {"--pool", pool_});
    args.insert(args.end(), {"-o", "json"});
    ToolResult result = Ctl(args);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    auto parsed = nlohmann::json::parse(result.output, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << result.output;
    return parsed;
  }
  // A command that must fail: non-zero exit, a message containing `says`.
  void Refused(std::vector<std::string> args, const std::string& says) {
    ToolResult result = Ctl(args);
    EXPECT_NE(result.exit_code, 0) << "accepted: " << result.output;
    EXPECT_NE(result.output.find(says), std::string::npos)
        << "the error does not say \"" << says << "\": " << result.output;
    ++refusals_;
  }
  std::string ImageHash(const std::string& path) {
    auto hash = test::Sha256File(path);
    return hash.ok() ? *hash : "unreadable: " + std::string(hash.status().message());
  }

  Workspace work_{"ditto-dittoctl-pool"};
  std::string pool_ = work_.pool_dir();
  int commands_ = 0;
  int refusals_ = 0;
};

TEST_F(DittoctlPoolTest, PoolVolumeAndSnapshotCommandsWithJsonOutput) {
  // The backend this run tests (ctest runs the suite once per backend).
  const char* env = std::getenv("DITTO_POOL_BACKEND");
  const std::string backend = env != nullptr && *env != '\0' ? env : "btrfs";
  ToolResult init = Ctl({"pool", "init", pool_, "--size", "512Mi", "--backend", backend});
  ASSERT_EQ(init.exit_code, 0) << init.output;
  Refused({"pool", "init", pool_, "--size", "512Mi"}, pool_);  // already a pool

  nlohmann::json status = Json({"pool", "status", pool_});
  ASSERT_TRUE(status.is_object()) << status;
  EXPECT_EQ(status["filesystem"], backend);
  EXPECT_EQ(status["backend"], backend == "xfs" ? "reflink-files" : "btrfs-subvolumes");
  EXPECT_EQ(status["reflink"], true);
  EXPECT_EQ(status["volumes"], 0);
  EXPECT_GT(status["capacityBytes"].get<int64_t>(), 400ll << 20);
  const std::string data = status["dataDir"];

  nlohmann::json volume = Json({"volume", "create", "data", "--size", "64Mi"});
  const std::string volume_id = volume["id"];
  EXPECT_EQ(volume["name"], "data");
  EXPECT_EQ(volume["capacityBytes"], 64ll << 20);
  EXPECT_EQ(volume["state"], "ready");
  // Content written into the image directly (as a filesystem would).
  const std::string image = test::PoolImagePath(data, "volumes", volume_id);
  {
    int fd = ::open(image.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::string pattern = test::PatternData(3 << 20, 5);
    ASSERT_EQ(::pwrite(fd, pattern.data(), pattern.size(), 1 << 20),
              static_cast<ssize_t>(pattern.size()));
    ASSERT_EQ(::fsync(fd), 0);
    ::close(fd);
  }
  const std::string volume_hash = ImageHash(image);

  nlohmann::json clone = Json({"volume", "create", "data-copy", "--from-volume", volume_id});
  EXPECT_EQ(clone["sourceKind"], "volume");
  EXPECT_EQ(clone["sourceId"], volume_id);
  EXPECT_EQ(clone["capacityBytes"], 64ll << 20);
  EXPECT_EQ(clone["cloneMethod"], backend == "xfs" ? "reflink" : "subvolume-snapshot");
  const std::string clone_id = clone["id"];
  EXPECT_EQ(ImageHash(test::PoolImagePath(data, "volumes", clone_id)), volume_hash);

  nlohmann::json shown = Json({"volume", "show", clone_id});
  EXPECT_EQ(shown["id"], clone_id);
  EXPECT_EQ(shown["path"], test::PoolImagePath(data, "volumes", clone_id));
  EXPECT_EQ(shown["space"]["sharedBytes"], 3ll << 20) << shown;
  EXPECT_EQ(shown["space"]["exclusiveBytes"], 0) << shown;

  nlohmann::json snapshot = Json({"snapshot", "create", "nightly", volume_id});
  const std::string snapshot_id = snapshot["id"];
  EXPECT_EQ(snapshot["sourceVolumeId"], volume_id);
  EXPECT_EQ(snapshot["readyToUse"], true);
  EXPECT_EQ(ImageHash(test::PoolImagePath(data, "snapshots", snapshot_id)), volume_hash);

  nlohmann::json restored =
      Json({"volume", "create", "restored", "--from-snapshot", snapshot_id, "--size", "96Mi"});
  EXPECT_EQ(restored["sourceKind"], "snapshot");
  EXPECT_EQ(restored["capacityBytes"], 96ll << 20);

  nlohmann::json expanded = Json({"volume", "expand", volume_id, "128Mi"});
  EXPECT_EQ(expanded["capacityBytes"], 128ll << 20);
  EXPECT_EQ(std::filesystem::file_size(image), 128ull << 20);

  nlohmann::json volumes = Json({"volume", "list"});
  ASSERT_TRUE(volumes.is_array()) << volumes;
  EXPECT_EQ(volumes.size(), 3u);
  nlohmann::json snapshots = Json({"snapshot", "list"});
  ASSERT_TRUE(snapshots.is_array()) << snapshots;
  EXPECT_EQ(snapshots.size(), 1u);
  status = Json({"pool", "status", pool_});
  EXPECT_EQ(status["volumes"], 3);
  EXPECT_EQ(status["snapshots"], 1);

  ToolResult overcommit = Ctl({"pool", "set-overcommit", pool_, "4"});
  EXPECT_EQ(overcommit.exit_code, 0) << overcommit.output;
  status = Json({"pool", "status", pool_});
  EXPECT_EQ(status["overcommitRatio"], 4.0);

  // Wrong input: an error that names what was wrong, and nothing changes.
  const std::string missing_volume = "vol-0123456789abcdef0123456789abcdef";
  Refused({"volume", "show", missing_volume, "--pool", pool_}, missing_volume);
  Refused({"volume", "create", "x", "--from-volume", missing_volume, "--pool", pool_},
          missing_volume);
  Refused({"volume", "create", "x", "--from-volume", volume_id, "--from-snapshot", snapshot_id,
           "--pool", pool_},
          "--from-snapshot");
  Refused({"volume", "create", "data", "--size", "32Mi", "--pool", pool_}, "data");
  Refused({"volume", "create", "huge", "--size", "-5Gi", "--pool", pool_}, "-5Gi");
  Refused({"volume", "expand", volume_id, "64Mi", "--pool", pool_}, "only grow");
  Refused({"snapshot", "create", "nightly-2", missing_volume, "--pool", pool_}, missing_volume);
  Refused({"volume", "list", "--pool", work_.Join("not-a-pool")}, "not-a-pool");
  Refused({"volume", "list", "--pool", pool_, "-o", "xml"}, "xml");
  volumes = Json({"volume", "list"});
  EXPECT_EQ(volumes.size(), 3u) << "a refused command changed the pool";

  // Deletes, and the source can go before its clone (no parent chain).
  ToolResult deleted = Ctl({"volume", "delete", volume_id, "--pool", pool_});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_FALSE(std::filesystem::exists(image));
  EXPECT_EQ(ImageHash(test::PoolImagePath(data, "volumes", clone_id)), volume_hash)
      << "deleting the source changed its clone";
  deleted = Ctl({"snapshot", "delete", snapshot_id, "--pool", pool_});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  snapshots = Json({"snapshot", "list"});
  EXPECT_EQ(snapshots.size(), 0u);
  volumes = Json({"volume", "list"});
  EXPECT_EQ(volumes.size(), 2u);
  std::printf(
      "dittoctl pool commands: %d commands (pool, volume, snapshot; -o json parsed), %d wrong "
      "inputs refused with a message naming them\n",
      commands_, refusals_);
}

// Read-only commands never mount a pool, whatever holds its filesystem: a
// pool on a whole device whose filesystem is not mounted is reported by
// `volume list` and `pool status`, and stays unmounted.
TEST_F(DittoctlPoolTest, ReadOnlyCommandsDoNotMountADevicePool) {
  const char* env = std::getenv("DITTO_POOL_BACKEND");
  const std::string backend = env != nullptr ? env : "btrfs";
  const std::string disk = work_.Join("disk.img");
  {
    int fd = ::open(disk.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 512ll << 20), 0);
    ::close(fd);
  }
  ToolResult attached = RunTool({"losetup", "--find", "--show", disk});
  ASSERT_EQ(attached.exit_code, 0) << attached.output;
  const std::string device = attached.output.substr(0, attached.output.find('\n'));
  ToolResult init = Ctl({"pool", "init", pool_, "--device", device, "--backend", backend});
  ASSERT_EQ(init.exit_code, 0) << init.output;
  const std::string data = pool_ + "/data";
  ASSERT_TRUE(IsMountPoint(data)) << "the device pool's filesystem is not at " << data;
  ToolResult unmounted = RunTool({"umount", data});
  ASSERT_EQ(unmounted.exit_code, 0) << unmounted.output;

  for (std::vector<std::string> args : {std::vector<std::string>{"volume", "list", "--pool", pool_},
                                        std::vector<std::string>{"pool", "status", pool_}}) {
    ToolResult result = Ctl(args);
    EXPECT_NE(result.exit_code, 0) << args[0] << " " << args[1] << ": " << result.output;
    EXPECT_NE(result.output.find("is not mounted"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("does not mount it"), std::string::npos) << result.output;
    EXPECT_FALSE(IsMountPoint(data)) << args[0] << " " << args[1] << " mounted the device pool";
  }
  // A command that changes the pool mounts it again.
  ToolResult created = Ctl({"volume", "create", "--pool", pool_, "v", "--size", "16Mi"});
  EXPECT_EQ(created.exit_code, 0) << created.output;
  EXPECT_TRUE(IsMountPoint(data));
  (void)RunTool({"umount", data});
  (void)RunTool({"losetup", "-d", device});
}

}  // namespace
}  // namespace ditto::reliability
