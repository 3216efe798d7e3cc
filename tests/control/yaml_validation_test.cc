#include <fmt/format.h>
#include <gtest/gtest.h>

#include "control/apiserver/apply.h"
#include "control/api/validation.h"
#include "control/api/yaml_io.h"

namespace ditto::control {
namespace {

constexpr char kClaim[] = R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: clone-of-pvc-1
  namespace: myns
spec:
  accessModes:
  - ReadWriteOnce
  storageClassName: cloning
  resources:
    requests:
      storage: 5Gi
  dataSource:
    kind: PersistentVolumeClaim
    name: pvc-1
)";

std::string ErrorsOf(const std::string& yaml) {
  auto documents = ParseYaml(yaml, "in.yaml");
  if (!documents.ok()) return std::string(documents.status().message());
  std::string out;
  for (const Document& document : *documents) {
    auto errors = ValidateObject(document.object);
    if (!errors.empty()) out += std::string(DocumentErrors(document, errors).message());
  }
  return out;
}

TEST(YamlTest, ParsesTheSeedClaimWithPositions) {
  auto documents = ParseYaml(kClaim, "clone.yaml");
  ASSERT_TRUE(documents.ok()) << documents.status();
  ASSERT_EQ(documents->size(), 1u);
  const Document& document = documents->front();
  EXPECT_EQ(GetString(document.object, {"spec", "dataSource", "name"}), "pvc-1");
  EXPECT_EQ(document.PositionOf("/spec/resources/requests/storage").ToString(), "clone.yaml:12:16");
  EXPECT_EQ(document.PositionOf("/spec/nothing/here").ToString(), "clone.yaml:7:3");
  EXPECT_TRUE(ValidateObject(document.object).empty());
}

TEST(YamlTest, MultipleDocumentsAndEmptyOnes) {
  auto documents = ParseYaml("---\nkind: A\n---\n---\nkind: B\n", "f");
  ASSERT_TRUE(documents.ok());
  ASSERT_EQ(documents->size(), 2u);
  EXPECT_EQ((*documents)[1].PositionOf("/kind").ToString(), "f:5:7");
}

TEST(YamlTest, SyntaxErrorsNameFileLineAndColumn) {
  auto documents = ParseYaml("a: 1\nb: [x\n", "bad.yaml");
  ASSERT_FALSE(documents.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(documents.status()));
  EXPECT_EQ(std::string(documents.status().message()).rfind("bad.yaml:", 0), 0u)
      << documents.status();
}

TEST(YamlTest, DuplicateKeysAreErrors) {
  auto documents = ParseYaml("a: 1\na: 2\n", "dup.yaml");
  ASSERT_FALSE(documents.ok());
  EXPECT_NE(
      std::string(documents.status().message()).find("dup.yaml:2:1: yaml: duplicate key \"a\""),
      std::string::npos)
      << documents.status();
}

TEST(YamlTest, ScalarsResolveAndQuotedStringsStayStrings) {
  auto documents = ParseYaml("a: true\nb: \"true\"\nc: 5\nd: '5'\ne: 5Gi\nf: ~\n", "f");
  ASSERT_TRUE(documents.ok());
  const Json& object = documents->front().object;
  EXPECT_TRUE(object["a"].is_boolean());
  EXPECT_TRUE(object["b"].is_string());
  EXPECT_TRUE(object["c"].is_number_integer());
  EXPECT_TRUE(object["d"].is_string());
  EXPECT_EQ(object["e"], "5Gi");
  EXPECT_TRUE(object["f"].is_null());
}

TEST(YamlTest, ToYamlRoundTripsAmbiguousStrings) {
  Json object = {{"annotation", "true"},
                 {"count", "5"},
                 {"empty", ""},
                 {"yes", "yes"},
                 {"list", Json::array()},
                 {"n", 3},
                 {"map", {{"k/v", "x: y"}}}};
  std::string text = ToYaml(object);
  auto documents = ParseYaml(text, "out");
  ASSERT_TRUE(documents.ok()) << text;
  EXPECT_EQ(documents->front().object, object) << text;
}

TEST(ValidationTest, UnknownFieldsAreNamedWithTheirPosition) {
  std::string yaml = std::string(kClaim) + "  colour: blue\n";
  EXPECT_EQ(ErrorsOf(yaml),
            "in.yaml:16:3: PersistentVolumeClaim \"clone-of-pvc-1\" is invalid: spec.colour: "
            "unknown field \"spec.colour\"");
}

TEST(ValidationTest, BadQuantity) {
  std::string yaml = kClaim;
  yaml.replace(yaml.find("5Gi"), 3, "5Gx");
  std::string errors = ErrorsOf(yaml);
  EXPECT_EQ(errors.rfind("in.yaml:12:16: PersistentVolumeClaim \"clone-of-pvc-1\" is invalid: "
                         "spec.resources.requests[storage]: quantity \"5Gx\"",
                         0),
            0u)
      << errors;
}

TEST(ValidationTest, NamesMustBeRfc1123) {
  std::string yaml = kClaim;
  yaml.replace(yaml.find("clone-of-pvc-1"), 14, "Clone_Of");
  EXPECT_NE(ErrorsOf(yaml).find("metadata.name: Invalid value: \"Clone_Of\": a lowercase RFC 1123 "
                                "subdomain"),
            std::string::npos);
  EXPECT_TRUE(CheckSubdomainName("pvc-1.a").empty());
  EXPECT_FALSE(CheckLabelName("a.b").empty());
  EXPECT_FALSE(CheckLabelName(std::string(64, 'a')).empty());
}

TEST(ValidationTest, AnnotationsAreCappedAt256KiBTogether) {
  auto with_annotation = [](size_t bytes) {
    return fmt::format(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: big\n  annotations:\n"
        "    a: \"{}\"\n    b: \"{}\"\n",
        std::string(bytes / 2, 'x'), std::string(bytes / 2, 'y'));
  };
  EXPECT_EQ(ErrorsOf(with_annotation(200 * 1024)), "");
  EXPECT_NE(ErrorsOf(with_annotation(300 * 1024)).find("metadata.annotations: Too long"),
            std::string::npos);
}

TEST(ValidationTest, RequiredFieldsAndEnums) {
  EXPECT_NE(
      ErrorsOf("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: x\nspec: {}\n")
          .find("spec.accessModes: Required value"),
      std::string::npos);
  std::string yaml = kClaim;
  yaml.replace(yaml.find("ReadWriteOnce"), 13, "ReadWriteSometimes");
  EXPECT_NE(ErrorsOf(yaml).find("Unsupported value: \"ReadWriteSometimes\""), std::string::npos);
  EXPECT_NE(ErrorsOf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n")
                .find("no matches for kind \"Pod\" in version \"v1\""),
            std::string::npos);
  EXPECT_NE(ErrorsOf("apiVersion: storage.k8s.io/v1beta9\nkind: StorageClass\nmetadata:\n  name: "
                     "x\nprovisioner: p\n")
                .find("use apiVersion: storage.k8s.io/v1"),
            std::string::npos);
}

TEST(ValidationTest, DataSourceRules) {
  std::string yaml =
      std::string(kClaim) + "  dataSourceRef:\n    kind: PersistentVolumeClaim\n    name: other\n";
  EXPECT_NE(ErrorsOf(yaml).find("spec.dataSource: Invalid value: must match dataSourceRef"),
            std::string::npos);
  std::string snapshot = kClaim;
  snapshot.replace(snapshot.find("kind: PersistentVolumeClaim\n    name: pvc-1"), 27,
                   "kind: VolumeSnapshot");
  EXPECT_NE(ErrorsOf(snapshot).find("apiGroup: snapshot.storage.k8s.io"), std::string::npos);
}

TEST(ValidationTest, ParametersMustBeStrings) {
  EXPECT_NE(ErrorsOf("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: x\n"
                     "provisioner: p\nparameters:\n  thick: true\n")
                .find("in.yaml:7:10: StorageClass \"x\" is invalid: parameters[thick]: expected a "
                      "string, got boolean; quote the value"),
            std::string::npos);
}

}  // namespace
}  // namespace ditto::control
