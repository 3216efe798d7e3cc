// The fixture of the control-plane rule tests: a ControlPlane in a fresh
// state directory over the fake CSI driver, with helpers to apply YAML and
// read objects and events back.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "control/control_plane.h"
#include "control/api/kinds.h"
#include "fake_csi.h"
#include "host/linux_host.h"
#include "support/temp_dir.h"

namespace ditto::control {

class PlaneTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    plane_.reset();
    auto plane =
        ControlPlane::Open(dir_.Join("state"), std::make_unique<CsiClient>(fake_.Channel()), host_);
    ASSERT_TRUE(plane.ok()) << plane.status();
    plane_ = std::move(*plane);
  }

  // Applies YAML; returns the error text ("" on success).
  std::string Apply(const std::string& yaml, const std::string& ns = "default") {
    auto documents = ParseYaml(yaml, "test.yaml");
    if (!documents.ok()) return std::string(documents.status().message());
    ApplyOptions options;
    options.default_namespace = ns;
    auto results = plane_->Apply(*documents, options);
    return results.ok() ? "" : std::string(results.status().message());
  }

  Json Get(const std::string& kind, const std::string& name, const std::string& ns = "default") {
    const KindInfo* info = FindKind(kind);
    auto object =
        GetObject(plane_->store(), kind, info != nullptr && info->namespaced ? ns : "", name);
    EXPECT_TRUE(object.ok());
    return object.ok() && object->has_value() ? **object : Json();
  }

  std::string Phase(const std::string& claim) {
    return GetString(Get(kPersistentVolumeClaim, claim), {"status", "phase"});
  }

  // The latest Warning event message about an object (a claim unless said).
  std::string Warning(const std::string& name, const std::string& kind = kPersistentVolumeClaim) {
    std::string message;
    EXPECT_TRUE(plane_->store()
                    .Transact([&](StoreTxn& txn) -> Status {
                      const KindInfo* info = FindKind(kind);
                      std::string ns = info != nullptr && info->namespaced ? "default" : "";
                      ASSIGN_OR_RETURN(auto events, txn.ListEvents(ns, false, kind, name));
                      for (const auto& event : events) {
                        if (event.type == "Warning") message = event.message;
                      }
                      return absl::OkStatus();
                    })
                    .ok());
    return message;
  }

  static std::string Claim(const std::string& name, const std::string& size,
                           const std::string& extra = "", const std::string& sc = "ditto") {
    return "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: " + name +
           "\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: " + sc +
           "\n  resources:\n    requests:\n      storage: " + size + "\n" + extra;
  }
  static std::string CloneOf(const std::string& source) {
    return "  dataSource:\n    kind: PersistentVolumeClaim\n    name: " + source + "\n";
  }

  test::TempDir dir_{"control-rules"};
  host::LinuxHost host_;
  testing::FakeCsiServer fake_;
  std::unique_ptr<ControlPlane> plane_;
};

}  // namespace ditto::control
