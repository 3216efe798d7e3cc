// Validation of objects as users write them, with the API server's rules:
// known fields and their types (strict decoding), names (RFC 1123),
// quantities, enumerations, required fields and cross-field rules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "control/api/object.h"
#include "control/api/yaml_io.h"

namespace ditto::control {

struct FieldError {
  std::string pointer;  // JSON pointer of the offending value ("" = the object)
  std::string field;    // dotted form for messages ("spec.resources.requests.storage")
  std::string message;
};

// Every problem of `object` (apiVersion/kind must name a served kind).
std::vector<FieldError> ValidateObject(const Json& object);

// Empty when `name` is a lowercase RFC 1123 subdomain (most objects), else
// the reason, as the API server words it.
std::string CheckSubdomainName(std::string_view name);
// Empty when `name` is an RFC 1123 label (namespaces).
std::string CheckLabelName(std::string_view name);

// InvalidArgument naming FILE:LINE:COLUMN of each error within `document`.
Status DocumentErrors(const Document& document, const std::vector<FieldError>& errors);

// Quantities in `object` written as numbers become strings ("5Gi" stays).
void CanonicalizeQuantities(Json& object);

// The rules of the three group snapshot kinds beyond their schema (required
// fields, exactly one source, a selector that parses), as FieldErrors.
void CheckGroupSnapshotObject(const Json& object, std::vector<FieldError>* errors);

}  // namespace ditto::control
