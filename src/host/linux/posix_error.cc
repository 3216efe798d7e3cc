#include "host/posix_error.h"

#include <errno.h>
#include <string.h>

#include <string>

#include "fmt/format.h"

namespace ditto::host {
namespace {

absl::StatusCode CodeFor(int err) {
  switch (err) {
    case ENOENT:
    case ENXIO:
    case ENODEV:
      return absl::StatusCode::kNotFound;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return absl::StatusCode::kResourceExhausted;
    case EBUSY:
    case EAGAIN:
    case EINTR:
      return absl::StatusCode::kUnavailable;
    case EINVAL:
    case ENAMETOOLONG:
      return absl::StatusCode::kInvalidArgument;
    case EOPNOTSUPP:
    case EXDEV:
    case ENOSYS:
    case ENOTTY:
      return absl::StatusCode::kUnimplemented;
    case ENOTDIR:
    case EISDIR:
    case ENOTEMPTY:
    case EROFS:
    case ELOOP:
      return absl::StatusCode::kFailedPrecondition;
    case EFBIG:
      return absl::StatusCode::kOutOfRange;
    case ETIMEDOUT:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return absl::StatusCode::kInternal;
  }
}

// What an operator can do about the common failures.
std::string_view HintFor(int err) {
  switch (err) {
    case EACCES:
    case EPERM:
      return "; run as root (or with CAP_SYS_ADMIN for mounts and loop devices)";
    case ENOSPC:
    case EDQUOT:
      return "; free space in the filesystem or grow it";
    case EBUSY:
      return "; the resource is in use, retry once its user has finished";
    case EROFS:
      return "; the filesystem is mounted read-only";
    default:
      return "";
  }
}

}  // namespace

Status PosixError(std::string_view context, int err) {
  char buffer[256];
  // GNU strerror_r returns the message, possibly not in `buffer`.
  const char* text = strerror_r(err, buffer, sizeof(buffer));
  return Status(CodeFor(err), fmt::format("{}: {} (errno {}){}", context, text, err, HintFor(err)));
}

}  // namespace ditto::host
