#include "control/api/schema.h"

#include "control/api/kinds.h"

namespace ditto::control {
namespace {

SchemaPtr Make(SchemaType type) {
  auto schema = std::make_shared<Schema>();
  schema->type = type;
  return schema;
}
SchemaPtr Str() { return Make(SchemaType::kString); }
SchemaPtr Int() { return Make(SchemaType::kInt); }
SchemaPtr Bool() { return Make(SchemaType::kBool); }
SchemaPtr StrMap() { return Make(SchemaType::kStringMap); }
SchemaPtr QtyMap() { return Make(SchemaType::kQuantityMap); }
SchemaPtr Any() { return Make(SchemaType::kAny); }
SchemaPtr Enum(std::vector<std::string> values) {
  SchemaPtr schema = Str();
  schema->values = std::move(values);
  return schema;
}
SchemaPtr Arr(SchemaPtr items) {
  SchemaPtr schema = Make(SchemaType::kArray);
  schema->items = std::move(items);
  return schema;
}
SchemaPtr Obj(std::map<std::string, SchemaPtr> fields) {
  SchemaPtr schema = Make(SchemaType::kObject);
  schema->fields = std::move(fields);
  return schema;
}

const std::vector<std::string> kAccessModes = {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany",
                                               "ReadWriteOncePod"};

SchemaPtr ObjectMeta() {
  return Obj({{"name", Str()},
              {"namespace", Str()},
              {"uid", Str()},
              {"resourceVersion", Str()},
              {"generation", Int()},
              {"creationTimestamp", Any()},
              {"deletionTimestamp", Any()},
              {"deletionGracePeriodSeconds", Int()},
              {"labels", StrMap()},
              {"annotations", StrMap()},
              {"finalizers", Arr(Str())},
              {"ownerReferences", Any()},
              {"managedFields", Any()}});
}

SchemaPtr Top(std::map<std::string, SchemaPtr> fields) {
  fields["apiVersion"] = Str();
  fields["kind"] = Str();
  fields["metadata"] = ObjectMeta();
  return Obj(std::move(fields));
}

SchemaPtr ObjectReference() {
  return Obj({{"apiVersion", Str()},
              {"kind", Str()},
              {"name", Str()},
              {"namespace", Str()},
              {"uid", Str()},
              {"resourceVersion", Str()},
              {"fieldPath", Str()}});
}

}  // namespace

// Kept in one piece: a table, one schema per kind.
const std::map<std::string, SchemaPtr>& Schemas() {
  static const auto* schemas = new std::map<std::string, SchemaPtr>{
      {kNamespace, Top({{"spec", Obj({{"finalizers", Arr(Str())}})}, {"status", Any()}})},
      {kStorageClass, Top({{"provisioner", Str()},
                           {"parameters", StrMap()},
                           {"reclaimPolicy", Enum({"Delete", "Retain"})},
                           {"volumeBindingMode", Enum({"Immediate", "WaitForFirstConsumer"})},
                           {"allowVolumeExpansion", Bool()},
                           {"mountOptions", Arr(Str())},
                           {"allowedTopologies", Any()}})},
      {kVolumeAttributesClass, Top({{"driverName", Str()}, {"parameters", StrMap()}})},
      {kPersistentVolumeClaim,
       Top({{"spec",
             Obj({{"accessModes", Arr(Enum(kAccessModes))},
                  {"resources", Obj({{"requests", QtyMap()}, {"limits", QtyMap()}})},
                  {"storageClassName", Str()},
                  {"volumeMode", Enum({"Filesystem", "Block"})},
                  {"volumeName", Str()},
                  {"selector", Any()},
                  {"volumeAttributesClassName", Str()},
                  {"dataSource", Obj({{"apiGroup", Str()}, {"kind", Str()}, {"name", Str()}})},
                  {"dataSourceRef", Obj({{"apiGroup", Str()},
                                         {"kind", Str()},
                                         {"name", Str()},
                                         {"namespace", Str()}})}})},
            {"status", Any()}})},
      {kPersistentVolume,
       Top({{"spec", Obj({{"capacity", QtyMap()},
                          {"accessModes", Arr(Enum(kAccessModes))},
                          {"persistentVolumeReclaimPolicy", Enum({"Retain", "Delete", "Recycle"})},
                          {"storageClassName", Str()},
                          {"volumeMode", Enum({"Filesystem", "Block"})},
                          {"mountOptions", Arr(Str())},
                          {"claimRef", ObjectReference()},
                          {"nodeAffinity", Any()},
                          {"volumeAttributesClassName", Str()},
                          {"csi", Obj({{"driver", Str()},
                                       {"volumeHandle", Str()},
                                       {"fsType", Str()},
                                       {"readOnly", Bool()},
                                       {"volumeAttributes", StrMap()},
                                       {"controllerPublishSecretRef", Any()},
                                       {"nodeStageSecretRef", Any()},
                                       {"nodePublishSecretRef", Any()},
                                       {"controllerExpandSecretRef", Any()},
                                       {"nodeExpandSecretRef", Any()}})}})},
            {"status", Any()}})},
      {kVolumeSnapshotClass, Top({{"driver", Str()},
                                  {"deletionPolicy", Enum({"Delete", "Retain"})},
                                  {"parameters", StrMap()}})},
      {kVolumeSnapshot, Top({{"spec", Obj({{"source", Obj({{"persistentVolumeClaimName", Str()},
                                                           {"volumeSnapshotContentName", Str()}})},
                                           {"volumeSnapshotClassName", Str()}})},
                             {"status", Any()}})},
      {kVolumeSnapshotContent,
       Top({{"spec", Obj({{"driver", Str()},
                          {"deletionPolicy", Enum({"Delete", "Retain"})},
                          {"source", Obj({{"volumeHandle", Str()}, {"snapshotHandle", Str()}})},
                          {"volumeSnapshotRef", ObjectReference()},
                          {"volumeSnapshotClassName", Str()},
                          {"sourceVolumeMode", Enum({"Filesystem", "Block"})}})},
            {"status", Any()}})},
      {kVolumeGroupSnapshotClass, Top({{"driver", Str()},
                                       {"deletionPolicy", Enum({"Delete", "Retain"})},
                                       {"parameters", StrMap()}})},
      {kVolumeGroupSnapshot,
       Top({{"spec",
             Obj({{"source", Obj({{"selector", Any()}, {"volumeGroupSnapshotContentName", Str()}})},
                  {"volumeGroupSnapshotClassName", Str()}})},
            {"status", Any()}})},
      {kVolumeGroupSnapshotContent,
       Top({{"spec", Obj({{"driver", Str()},
                          {"deletionPolicy", Enum({"Delete", "Retain"})},
                          {"volumeGroupSnapshotRef", ObjectReference()},
                          {"volumeGroupSnapshotClassName", Str()},
                          {"source", Obj({{"volumeHandles", Arr(Str())},
                                          {"groupSnapshotHandles",
                                           Obj({{"volumeGroupSnapshotHandle", Str()},
                                                {"volumeSnapshotHandles", Arr(Str())}})}})}})},
            {"status", Any()}})},
      {kReferenceGrant,
       Top({{"spec",
             Obj({{"from", Arr(Obj({{"group", Str()}, {"kind", Str()}, {"namespace", Str()}}))},
                  {"to", Arr(Obj({{"group", Str()}, {"kind", Str()}, {"name", Str()}}))}})}})},
  };
  return *schemas;
}

}  // namespace ditto::control
