#include "control/apiserver/apply.h"

#include <set>

#include "control/apiserver/admission.h"
#include "control/api/kinds.h"
#include "control/api/validation.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

// Splits "kind: List" documents into one document per item.
std::vector<Document> Expand(const std::vector<Document>& documents) {
  std::vector<Document> expanded;
  for (const Document& document : documents) {
    if (GetString(document.object, {"kind"}) != "List" ||
        !document.object.value("items", Json()).is_array()) {
      expanded.push_back(document);
      continue;
    }
    const Json& items = document.object["items"];
    for (size_t i = 0; i < items.size(); ++i) {
      Document item;
      item.object = items[i];
      item.file = document.file;
      item.index = document.index;
      std::string prefix = fmt::format("/items/{}", i);
      for (const auto& [pointer, position] : document.positions) {
        if (pointer.rfind(prefix, 0) == 0) item.positions[pointer.substr(prefix.size())] = position;
      }
      expanded.push_back(std::move(item));
    }
  }
  return expanded;
}

// A Pod names the claims it would use: say how to use them here instead.
ApplyResult SkipPod(const Document& document, const ApplyOptions& options) {
  const Json& pod = document.object;
  std::string name = GetString(pod, {"metadata", "name"});
  std::string ns = GetString(pod, {"metadata", "namespace"});
  if (ns.empty()) ns = options.default_namespace;
  std::string claims;
  const Json* volumes = Find(pod, {"spec", "volumes"});
  if (volumes != nullptr && volumes->is_array()) {
    for (const Json& volume : *volumes) {
      std::string claim = GetString(volume, {"persistentVolumeClaim", "claimName"});
      if (claim.empty()) continue;
      claims += fmt::format("{}dittoctl mount pvc/{} PATH -n {}", claims.empty() ? "" : "; ",
                            claim, ns);
    }
  }
  ApplyResult result;
  result.ref = fmt::format("pod/{}", name);
  result.action = ApplyAction::kSkipped;
  result.note = fmt::format(
      "{}: pod/{} not run: dittoctl runs no pods, it gives claims to this machine instead: {} "
      "(dittoctl attach pvc/NAME -n {} for a Block claim)",
      document.PositionOf("").ToString(), name,
      claims.empty() ? "dittoctl mount pvc/NAME PATH -n " + ns : claims, ns);
  return result;
}

Status ErrorAt(const Document& document, const std::string& pointer, const std::string& message) {
  return absl::InvalidArgumentError(
      fmt::format("{}: {}", document.PositionOf(pointer).ToString(), message));
}

}  // namespace

const char* ActionName(ApplyAction action) {
  switch (action) {
    case ApplyAction::kCreated:
      return "created";
    case ApplyAction::kConfigured:
      return "configured";
    case ApplyAction::kUnchanged:
      return "unchanged";
    case ApplyAction::kSkipped:
      return "skipped";
  }
  return "";
}

// Kept in one piece: its two numbered phases (each document alone, then all
// in one transaction) share the documents and their results.
StatusOr<std::vector<ApplyResult>> Apply(Store& store, const std::vector<Document>& input,
                                         const ApplyOptions& options) {
  std::vector<Document> documents;
  std::vector<ApplyResult> skipped;
  for (Document& document : Expand(input)) {
    if (GetString(document.object, {"kind"}) == "Pod" && document.object.is_object()) {
      skipped.push_back(SkipPod(document, options));
    } else {
      documents.push_back(std::move(document));
    }
  }
  if (documents.empty()) {
    if (!skipped.empty()) return skipped;
    return absl::InvalidArgumentError("no objects passed to apply");
  }
  // 1. Every document on its own: structure, names, quantities.
  std::string problems;
  for (Document& document : documents) {
    std::vector<FieldError> errors = ValidateObject(document.object);
    if (!errors.empty()) {
      if (!problems.empty()) problems += "\n";
      problems += std::string(DocumentErrors(document, errors).message());
      continue;
    }
    const KindInfo* kind = FindKind(Kind(document.object));
    Json& metadata = document.object["metadata"];
    if (kind->namespaced) {
      std::string ns = Namespace(document.object);
      if (ns.empty()) {
        metadata["namespace"] = options.default_namespace;
      } else if (options.namespace_flag && ns != options.default_namespace) {
        if (!problems.empty()) problems += "\n";
        problems += std::string(ErrorAt(document, "/metadata/namespace",
                                        fmt::format("the namespace from the provided object "
                                                    "\"{}\" does not match the namespace \"{}\". "
                                                    "You must pass '--namespace={}' to perform "
                                                    "this operation.",
                                                    ns, options.default_namespace, ns))
                                    .message());
      }
    } else {
      metadata.erase("namespace");
    }
    CanonicalizeQuantities(document.object);
  }
  // Two documents for one object would make the result depend on order.
  std::set<std::string> seen;
  for (const Document& document : documents) {
    std::string key = fmt::format("{}/{}/{}", Kind(document.object), Namespace(document.object),
                                  Name(document.object));
    if (!seen.insert(key).second && problems.empty()) {
      problems = std::string(
          ErrorAt(document, "/metadata/name",
                  fmt::format("{} \"{}\" appears twice in the input; keep one document per object",
                              Kind(document.object), Key(document.object)))
              .message());
    }
  }
  if (!problems.empty()) return absl::InvalidArgumentError(problems);

  // 2. All of them in one transaction, against what is stored.
  std::vector<ApplyResult> results;
  Status status = store.Transact([&](StoreTxn& txn) -> Status {
    results.clear();
    std::set<std::string> new_namespaces;
    for (const Document& document : documents) {
      if (Kind(document.object) == kNamespace) new_namespaces.insert(Name(document.object));
    }
    for (const Document& document : documents) {
      const Json& object = document.object;
      const KindInfo* kind = FindKind(Kind(object));
      if (kind->namespaced) {
        std::string ns = Namespace(object);
        ASSIGN_OR_RETURN(std::optional<Json> stored_ns, txn.Get(kNamespace, "", ns));
        if (!stored_ns.has_value() && new_namespaces.count(ns) == 0) {
          return ErrorAt(document, "/metadata/namespace",
                         fmt::format("namespaces \"{}\" not found; create it first (dittoctl "
                                     "create namespace {}) or add a Namespace document",
                                     ns, ns));
        }
        if (stored_ns.has_value() && IsBeingDeleted(*stored_ns)) {
          return ErrorAt(document, "/metadata/namespace",
                         fmt::format("{} \"{}\" is forbidden: unable to create new content in "
                                     "namespace {} because it is being terminated",
                                     kind->Resource(), Name(object), ns));
        }
      }
      ASSIGN_OR_RETURN(std::optional<Json> existing,
                       txn.Get(std::string(kind->kind), Namespace(object), Name(object)));
      ApplyResult result;
      result.ref = kind->Ref(Name(object));
      if (!existing.has_value()) {
        ASSIGN_OR_RETURN(Json stored, PrepareCreate(txn, object));
        RETURN_IF_ERROR(txn.Create(stored));
        result.action = ApplyAction::kCreated;
      } else if (options.create_only) {
        return ErrorAt(document, "/metadata/name",
                       fmt::format("{} \"{}\" already exists", kind->Resource(), Name(object)));
      } else {
        FieldError field_error;
        StatusOr<Json> updated = PrepareUpdate(txn, *existing, object, &field_error);
        if (!updated.ok()) {
          if (absl::IsInvalidArgument(updated.status())) {
            return DocumentErrors(document, {field_error});
          }
          return absl::Status(updated.status().code(),
                              fmt::format("{}: {}", document.PositionOf("").ToString(),
                                          std::string(updated.status().message())));
        }
        if (*updated == *existing) {
          result.action = ApplyAction::kUnchanged;
        } else {
          RETURN_IF_ERROR(txn.Update(*updated));
          result.action = ApplyAction::kConfigured;
        }
      }
      results.push_back(std::move(result));
    }
    // Cancelled rolls the transaction back: checked, nothing stored.
    if (options.dry_run) return absl::CancelledError("dry run");
    return absl::OkStatus();
  });
  if (options.dry_run && absl::IsCancelled(status)) status = absl::OkStatus();
  RETURN_IF_ERROR(status);
  for (ApplyResult& result : skipped) results.push_back(std::move(result));
  return results;
}

}  // namespace ditto::control
