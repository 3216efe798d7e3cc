#include "control/api/kinds.h"

#include <algorithm>
#include <cctype>

#include "fmt/format.h"

namespace ditto::control {

std::string KindInfo::Resource() const {
  std::string group = GroupOf(api_version);
  return group.empty() ? std::string(plural) : fmt::format("{}.{}", plural, group);
}

std::string KindInfo::Ref(std::string_view name) const {
  std::string group = GroupOf(api_version);
  return group.empty() ? fmt::format("{}/{}", singular, name)
                       : fmt::format("{}.{}/{}", singular, group, name);
}

const std::vector<KindInfo>& AllKinds() {
  static const std::vector<KindInfo> kinds = {
      {kNamespace, "v1", "namespaces", "namespace", {"ns"}, false},
      {kStorageClass, "storage.k8s.io/v1", "storageclasses", "storageclass", {"sc"}, false},
      {kVolumeAttributesClass,
       "storage.k8s.io/v1",
       "volumeattributesclasses",
       "volumeattributesclass",
       {"vac"},
       false},
      {kPersistentVolumeClaim,
       "v1",
       "persistentvolumeclaims",
       "persistentvolumeclaim",
       {"pvc"},
       true},
      {kPersistentVolume, "v1", "persistentvolumes", "persistentvolume", {"pv"}, false},
      {kVolumeSnapshotClass,
       "snapshot.storage.k8s.io/v1",
       "volumesnapshotclasses",
       "volumesnapshotclass",
       {"vsclass", "vsclasses"},
       false},
      {kVolumeSnapshot,
       "snapshot.storage.k8s.io/v1",
       "volumesnapshots",
       "volumesnapshot",
       {"vs"},
       true},
      {kVolumeSnapshotContent,
       "snapshot.storage.k8s.io/v1",
       "volumesnapshotcontents",
       "volumesnapshotcontent",
       {"vsc", "vscontent", "vscontents"},
       false},
      {kVolumeGroupSnapshotClass,
       "groupsnapshot.storage.k8s.io/v1beta2",
       "volumegroupsnapshotclasses",
       "volumegroupsnapshotclass",
       {"vgsclass", "vgsclasses"},
       false},
      {kVolumeGroupSnapshot,
       "groupsnapshot.storage.k8s.io/v1beta2",
       "volumegroupsnapshots",
       "volumegroupsnapshot",
       {"vgs"},
       true},
      {kVolumeGroupSnapshotContent,
       "groupsnapshot.storage.k8s.io/v1beta2",
       "volumegroupsnapshotcontents",
       "volumegroupsnapshotcontent",
       {"vgsc", "vgscs"},
       false},
      {kReferenceGrant,
       "gateway.networking.k8s.io/v1beta1",
       "referencegrants",
       "referencegrant",
       {"refgrant"},
       true},
      {kEvent, "v1", "events", "event", {"ev"}, true},
  };
  return kinds;
}

const KindInfo* FindKind(std::string_view kind) {
  for (const KindInfo& info : AllKinds()) {
    if (info.kind == kind) return &info;
  }
  return nullptr;
}

namespace {
std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}
}  // namespace

const KindInfo* ResolveKind(std::string_view text) {
  std::string lower = Lower(text);
  std::string group;
  if (size_t dot = lower.find('.'); dot != std::string::npos) {
    group = lower.substr(dot + 1);
    lower.resize(dot);
  }
  for (const KindInfo& info : AllKinds()) {
    if (!group.empty() && group != GroupOf(info.api_version)) continue;
    if (lower == Lower(info.kind) || lower == info.plural || lower == info.singular) return &info;
    for (std::string_view short_name : info.short_names) {
      if (lower == short_name) return &info;
    }
  }
  return nullptr;
}

std::string GroupOf(std::string_view api_version) {
  size_t slash = api_version.rfind('/');
  return slash == std::string_view::npos ? std::string()
                                         : std::string(api_version.substr(0, slash));
}

}  // namespace ditto::control
