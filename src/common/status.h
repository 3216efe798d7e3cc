// Errors are values. absl::StatusCode values are the gRPC codes, so the CSI
// boundary converts with a cast (see csi/grpc_status.h) and domain code picks
// the canonical code where the CSI spec decides it.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include <string>

namespace ditto {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

// The canonical name of a status code, "NOT_FOUND": absl and gRPC share the
// values and the names.
inline std::string StatusCodeName(int code) {
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN_CODE" : name;
}

}  // namespace ditto

#define DITTO_CONCAT_INNER_(a, b) a##b
#define DITTO_CONCAT_(a, b) DITTO_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status ditto_status_ = (expr);         \
    if (!ditto_status_.ok()) return ditto_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Foo());` declares x from the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(DITTO_CONCAT_(ditto_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
