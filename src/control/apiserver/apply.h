// `dittoctl apply` and `create`: validate every document of the input, then
// store all of them in one transaction — one invalid document and nothing in
// the input is applied.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "control/apiserver/store.h"
#include "control/api/yaml_io.h"

namespace ditto::control {

enum class ApplyAction { kCreated, kConfigured, kUnchanged, kSkipped };

struct ApplyResult {
  std::string ref;  // "persistentvolumeclaim/pvc-1"
  ApplyAction action = ApplyAction::kUnchanged;
  std::string note;  // kSkipped: why, and what to do instead
};

struct ApplyOptions {
  // Namespace for namespaced objects that name none (-n, else "default").
  std::string default_namespace = "default";
  // -n was given: an object naming another namespace is an error, as in kubectl.
  bool namespace_flag = false;
  // `create`: an existing object is an error (AlreadyExists) instead of updated.
  bool create_only = false;
  // --dry-run=server: everything checked against the store, nothing stored.
  bool dry_run = false;
};

// Applies `documents` (a "kind: List" document contributes its items).
// Errors name FILE:LINE:COLUMN. On any error nothing is stored. A Pod is
// not run: it is reported kSkipped, with the mount/attach commands that
// give its claims to this machine instead.
StatusOr<std::vector<ApplyResult>> Apply(Store& store, const std::vector<Document>& documents,
                                         const ApplyOptions& options);

// "created" / "configured" / "unchanged" / "skipped".
const char* ActionName(ApplyAction action);

}  // namespace ditto::control
