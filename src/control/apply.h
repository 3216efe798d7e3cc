// `dittoctl apply` and `create`: validate every document of the input, then
// store all of them in one transaction — one invalid document and nothing in
// the input is applied.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "control/store.h"
#include "control/yaml_io.h"

namespace ditto::control {

enum class ApplyAction { kCreated, kConfigured, kUnchanged };

struct ApplyResult {
  std::string ref;  // "persistentvolumeclaim/pvc-1"
  ApplyAction action = ApplyAction::kUnchanged;
};

struct ApplyOptions {
  // Namespace for namespaced objects that name none (-n, else "default").
  std::string default_namespace = "default";
  // -n was given: an object naming another namespace is an error, as in kubectl.
  bool namespace_flag = false;
  // `create`: an existing object is an error (AlreadyExists) instead of updated.
  bool create_only = false;
};

// Applies `documents` (a "kind: List" document contributes its items).
// Errors name FILE:LINE:COLUMN. On any error nothing is stored.
StatusOr<std::vector<ApplyResult>> Apply(Store& store, const std::vector<Document>& documents,
                                         const ApplyOptions& options);

// "created" / "configured" / "unchanged".
const char* ActionName(ApplyAction action);

}  // namespace ditto::control
