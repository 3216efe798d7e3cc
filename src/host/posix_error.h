// The single place where an errno value becomes a Status (LinuxHost only).
#pragma once

#include <string_view>

#include "common/status.h"

namespace ditto::host {

// Maps `err` to the canonical code (ENOENT -> NotFound, EEXIST -> AlreadyExists,
// EACCES/EPERM -> PermissionDenied, ENOSPC/EDQUOT -> ResourceExhausted,
// EBUSY -> Unavailable, EINVAL -> InvalidArgument, EOPNOTSUPP/EXDEV ->
// Unimplemented, ... else Internal). `context` names the operation and the
// path, e.g. "open /pool/volumes/x.img"; the message is
// "<context>: <strerror> (errno N)" plus a hint for the common cases.
Status PosixError(std::string_view context, int err);

}  // namespace ditto::host
