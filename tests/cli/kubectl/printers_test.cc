#include "cli/kubectl/printers.h"

#include <gtest/gtest.h>

namespace ditto::control {
namespace {

constexpr int64_t kSecond = 1000000000;

TEST(PrintersTest, AgesAsKubectlPrintsThem) {
  EXPECT_EQ(FormatAge(0), "0s");
  EXPECT_EQ(FormatAge(90 * kSecond), "90s");
  EXPECT_EQ(FormatAge(312 * kSecond), "5m12s");
  EXPECT_EQ(FormatAge(45 * 60 * kSecond), "45m");
  EXPECT_EQ(FormatAge(5 * 3600 * kSecond), "5h");
  EXPECT_EQ(FormatAge(3 * 86400 * kSecond), "3d");
}

TEST(PrintersTest, AccessModes) {
  EXPECT_EQ(AccessModesShort(Json::array({"ReadWriteOnce", "ReadOnlyMany", "ReadWriteOncePod"})),
            "RWO,ROX,RWOP");
}

TEST(PrintersTest, ClaimTable) {
  int64_t now = ParseTimestamp("2024-01-01T00:01:00Z");
  Json bound = {{"kind", "PersistentVolumeClaim"},
                {"metadata",
                 {{"name", "clone-of-pvc-1"},
                  {"namespace", "myns"},
                  {"creationTimestamp", "2024-01-01T00:00:00Z"}}},
                {"spec", {{"storageClassName", "cloning"}, {"volumeName", "pvc-1234"}}},
                {"status",
                 {{"phase", "Bound"},
                  {"capacity", {{"storage", "5Gi"}}},
                  {"accessModes", {"ReadWriteOnce"}}}}};
  Json deleting = bound;
  deleting["metadata"]["name"] = "pvc-1";
  deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:30Z";
  std::string table = PrintTable(*FindKind(kPersistentVolumeClaim), {bound, deleting}, {}, now);
  EXPECT_EQ(table,
            "NAME             STATUS        VOLUME     CAPACITY   ACCESS MODES   STORAGECLASS   "
            "VOLUMEATTRIBUTESCLASS   AGE\n"
            "clone-of-pvc-1   Bound         pvc-1234   5Gi        RWO            cloning        "
            "<unset>                 60s\n"
            "pvc-1            Terminating   pvc-1234   5Gi        RWO            cloning        "
            "<unset>                 60s\n");
  TableOptions all;
  all.all_namespaces = true;
  all.wide = true;
  std::string wide = PrintTable(*FindKind(kPersistentVolumeClaim), {bound}, all, now);
  EXPECT_EQ(wide.rfind("NAMESPACE   NAME", 0), 0u) << wide;
  EXPECT_NE(wide.find("VOLUMEMODE"), std::string::npos);
}

TEST(PrintersTest, DefaultStorageClassIsMarked) {
  Json storage_class = {
      {"kind", "StorageClass"},
      {"metadata", {{"name", "ditto"}, {"annotations", {{kDefaultClassAnnotation, "true"}}}}},
      {"provisioner", "ditto.csi.dev"},
      {"allowVolumeExpansion", true}};
  std::string table = PrintTable(*FindKind(kStorageClass), {storage_class}, {}, 0);
  EXPECT_NE(
      table.find("ditto (default)   ditto.csi.dev   Delete          Immediate           true"),
      std::string::npos)
      << table;
}

TEST(PrintersTest, ListsAreKubectlLists) {
  std::string yaml = PrintYaml({Json{{"kind", "Namespace"}}}, true);
  EXPECT_NE(yaml.find("kind: List"), std::string::npos);
  EXPECT_EQ(PrintYaml({Json{{"kind", "Namespace"}}}, false), "kind: Namespace\n");
}

}  // namespace
}  // namespace ditto::control
