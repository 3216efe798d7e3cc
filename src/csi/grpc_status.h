// The one place a ditto::Status becomes a grpc::Status. absl status codes are
// the gRPC codes, so the conversion is a cast and the message is unchanged:
// the code the domain layer chose is the code the CO sees.
#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace ditto::csi {

grpc::Status ToGrpcStatus(const Status& status);

}  // namespace ditto::csi
