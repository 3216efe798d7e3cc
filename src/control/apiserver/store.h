// The object store of the embedded control plane: Kubernetes objects (as
// JSON), events and the node's mount records in one SQLite database in the
// state directory. Every change happens in one transaction (BEGIN
// IMMEDIATE, with a busy timeout), so two dittoctl processes can work on the
// same state at once; resourceVersion is one counter for all objects and
// Update is optimistic (Aborted when the object changed since it was read).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/sqlite_db.h"
#include "common/status.h"
#include "control/api/object.h"

namespace ditto::control {

struct EventRecord {
  int64_t id = 0;
  std::string namespace_name;  // the involved object's namespace ("" = cluster)
  std::string involved_kind;
  std::string involved_name;
  std::string involved_uid;
  std::string type;    // "Normal" or "Warning"
  std::string reason;  // "ProvisioningFailed", ...
  std::string message;
  std::string source;  // component, e.g. "ditto.csi.dev_external-provisioner"
  int64_t count = 1;
  int64_t first_ns = 0;
  int64_t last_ns = 0;
};

// A volume published by `dittoctl mount`/`attach` on this node.
struct MountRecord {
  std::string target_path;  // absolute; the key
  std::string namespace_name;
  std::string claim_name;
  std::string volume_name;  // the PV
  std::string volume_handle;
  std::string staging_path;
  bool block = false;
  bool read_only = false;
  int64_t created_ns = 0;
};

class StoreTxn;

class Store {
 public:
  // Opens (creating if needed) the database at `path`; the directory must exist.
  static StatusOr<std::unique_ptr<Store>> Open(const std::string& path);

  // Runs `body` inside one write transaction and commits when it returns OK;
  // anything else rolls back and is returned. Waits for other processes'
  // transactions (busy timeout) rather than failing.
  Status Transact(const std::function<Status(StoreTxn&)>& body);

 private:
  explicit Store(std::unique_ptr<catalog::Db> db) : db_(std::move(db)) {}
  std::unique_ptr<catalog::Db> db_;
};

// Operations inside one transaction. Objects are identified by (kind,
// namespace, name); cluster-scoped kinds use namespace "".
class StoreTxn {
 public:
  explicit StoreTxn(catalog::Db& db) : db_(db) {}

  StatusOr<std::optional<Json>> Get(const std::string& kind, const std::string& ns,
                                    const std::string& name);
  // Objects of `kind` in `ns` ("" with all_namespaces = every namespace),
  // ordered by namespace then name.
  StatusOr<std::vector<Json>> List(const std::string& kind, const std::string& ns,
                                   bool all_namespaces = false);
  // Stores a new object, setting uid (unless set), creationTimestamp and
  // resourceVersion in `object`. AlreadyExists when the name is taken.
  Status Create(Json& object);
  // Replaces a stored object and gives it a new resourceVersion. NotFound if
  // absent; Aborted when `object`'s resourceVersion is not the stored one.
  Status Update(Json& object);
  // Removes the object (no finalizer logic here). OK when absent.
  Status Remove(const std::string& kind, const std::string& ns, const std::string& name);

  // Records an event about `involved`; an event with the same object, type,
  // reason and message is counted again instead of repeated.
  Status RecordEvent(const Json& involved, const std::string& type, const std::string& reason,
                     const std::string& message, const std::string& source);
  // Events in `ns` ("" with all_namespaces: all), optionally only about
  // the object with this kind and name, oldest first.
  StatusOr<std::vector<EventRecord>> ListEvents(const std::string& ns, bool all_namespaces,
                                                const std::string& kind = "",
                                                const std::string& name = "");
  Status RemoveEventsOf(const std::string& kind, const std::string& ns, const std::string& name);

  // Small named values of the control plane itself ("initialized").
  StatusOr<std::optional<std::string>> GetSetting(const std::string& key);
  Status PutSetting(const std::string& key, const std::string& value);
  Status RemoveSetting(const std::string& key);

  Status PutMount(const MountRecord& record);
  Status RemoveMount(const std::string& target_path);
  StatusOr<std::vector<MountRecord>> ListMounts();

 private:
  StatusOr<int64_t> NextResourceVersion();
  catalog::Db& db_;
};

}  // namespace ditto::control
