// A Host that forwards every call to another Host. Derive from it and
// override one method to inject a fault or observe a call, e.g.
//
//   class FailingThaw : public ForwardingHost {
//     using ForwardingHost::ForwardingHost;
//     Status Thaw(const std::string&) override { return absl::InternalError("x"); }
//   };
//
// The wrapped host must outlive this one. Thread-safe if the target is.
#pragma once

#include <string>
#include <vector>

#include "host/host.h"

namespace ditto::host {

class ForwardingHost : public Host {
 public:
  explicit ForwardingHost(Host& target) : target_(target) {}

  Host& target() const { return target_; }

  Status MakeDirectories(const std::string& path, uint32_t mode) override {
    return target_.MakeDirectories(path, mode);
  }
  StatusOr<FileInfo> Stat(const std::string& path) override { return target_.Stat(path); }
  StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) override {
    return target_.ListDirectory(path);
  }
  Status CreateSparseFile(const std::string& path, uint64_t size) override {
    return target_.CreateSparseFile(path, size);
  }
  Status Touch(const std::string& path) override { return target_.Touch(path); }
  Status Allocate(const std::string& path, uint64_t offset, uint64_t length) override {
    return target_.Allocate(path, offset, length);
  }
  Status Resize(const std::string& path, uint64_t size) override {
    return target_.Resize(path, size);
  }
  Status SyncFile(const std::string& path) override { return target_.SyncFile(path); }
  Status SyncDirectory(const std::string& path) override { return target_.SyncDirectory(path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return target_.Rename(from, to);
  }
  Status Remove(const std::string& path) override { return target_.Remove(path); }
  Status SetMode(const std::string& path, uint32_t mode) override {
    return target_.SetMode(path, mode);
  }
  StatusOr<std::string> ReadFile(const std::string& path) override {
    return target_.ReadFile(path);
  }
  Status WriteFileAtomically(const std::string& path, const std::string& contents) override {
    return target_.WriteFileAtomically(path, contents);
  }
  Status WriteAt(const std::string& path, uint64_t offset, const std::string& data) override {
    return target_.WriteAt(path, offset, data);
  }
  StatusOr<std::string> ReadAt(const std::string& path, uint64_t offset, uint64_t length) override {
    return target_.ReadAt(path, offset, length);
  }
  StatusOr<std::string> RealPath(const std::string& path) override {
    return target_.RealPath(path);
  }

  Status Reflink(const std::string& source, const std::string& destination) override {
    return target_.Reflink(source, destination);
  }
  Status SparseCopy(const std::string& source, const std::string& destination) override {
    return target_.SparseCopy(source, destination);
  }
  Status PunchHole(const std::string& path, uint64_t offset, uint64_t length) override {
    return target_.PunchHole(path, offset, length);
  }
  Status AllocateUnshared(const std::string& path, uint64_t offset, uint64_t length) override {
    return target_.AllocateUnshared(path, offset, length);
  }
  StatusOr<std::vector<Extent>> Extents(const std::string& path) override {
    return target_.Extents(path);
  }
  StatusOr<FilesystemInfo> StatFilesystem(const std::string& path) override {
    return target_.StatFilesystem(path);
  }
  Status CreateSubvolume(const std::string& path) override { return target_.CreateSubvolume(path); }
  Status SnapshotSubvolume(const std::string& source, const std::string& destination,
                           bool read_only) override {
    return target_.SnapshotSubvolume(source, destination, read_only);
  }
  Status DeleteSubvolume(const std::string& path) override { return target_.DeleteSubvolume(path); }
  Status MakeSubvolumeReadOnly(const std::string& path) override {
    return target_.MakeSubvolumeReadOnly(path);
  }
  StatusOr<bool> IsSubvolume(const std::string& path) override { return target_.IsSubvolume(path); }
  Status SetNoCow(const std::string& path) override { return target_.SetNoCow(path); }
  Status SyncFilesystem(const std::string& path) override { return target_.SyncFilesystem(path); }
  Status Freeze(const std::string& mount_point) override { return target_.Freeze(mount_point); }
  StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path, int timeout_ms) override {
    return target_.LockFile(path, timeout_ms);
  }
  Status Thaw(const std::string& mount_point) override { return target_.Thaw(mount_point); }

  StatusOr<std::string> AttachLoop(const std::string& backing_file, bool direct_io,
                                   bool read_only) override {
    return target_.AttachLoop(backing_file, direct_io, read_only);
  }
  Status DetachLoop(const std::string& device) override { return target_.DetachLoop(device); }
  StatusOr<std::vector<LoopDevice>> ListLoops() override { return target_.ListLoops(); }
  Status RefreshLoopCapacity(const std::string& device) override {
    return target_.RefreshLoopCapacity(device);
  }
  StatusOr<uint64_t> BlockDeviceSize(const std::string& device) override {
    return target_.BlockDeviceSize(device);
  }

  Status Mount(const std::string& source, const std::string& target, const std::string& fs_type,
               const MountOptions& options) override {
    return target_.Mount(source, target, fs_type, options);
  }
  Status Unmount(const std::string& target) override { return target_.Unmount(target); }
  StatusOr<std::vector<MountEntry>> ListMounts() override { return target_.ListMounts(); }

  StatusOr<CommandResult> Run(const std::vector<std::string>& argv) override {
    return target_.Run(argv);
  }

 private:
  Host& target_;
};

}  // namespace ditto::host
