# Deploys ditto as a user would: the snapshot CRDs and snapshot-controller of
# the pinned external-snapshotter, the SnapshotMetadataService CRD, then
# `kubectl apply -k` of an overlay over deploy/kubernetes (and its
# snapshot-metadata component) that only names the local images and sets
# imagePullPolicy: Never. Sourced by scripts/kubernetes.

module_dir() {
  (cd "$KCACHE/src/kubernetes" && go_env "$GO" mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
}

# The local stand-ins for images the proxy cannot build, and the pinned tags.
overlay_images() {
  local s=registry.k8s.io/sig-storage
  cat <<YAML
images:
  - {name: $s/csi-provisioner, newTag: $EXTERNAL_PROVISIONER_VERSION}
  - {name: $s/csi-snapshotter, newTag: $EXTERNAL_SNAPSHOTTER_VERSION}
  - {name: $s/snapshot-controller, newTag: $EXTERNAL_SNAPSHOTTER_VERSION}
  - {name: $s/csi-resizer, newTag: $EXTERNAL_RESIZER_VERSION}
  - {name: $s/csi-snapshot-metadata, newTag: $EXTERNAL_SNAPSHOT_METADATA_VERSION}
  - {name: $s/csi-node-driver-registrar, newName: localhost/ditto/csi-node-driver-registrar, newTag: stand-in}
  - {name: $s/livenessprobe, newName: localhost/ditto/livenessprobe, newTag: stand-in}
YAML
}

deploy_snapshot_controller() {
  local d=$KSTATE/deploy/snapshot-controller
  local snap client sms
  snap=$(module_dir "github.com/kubernetes-csi/external-snapshotter/v8@$EXTERNAL_SNAPSHOTTER_VERSION")
  client=$(module_dir "github.com/kubernetes-csi/external-snapshotter/client/v8@$EXTERNAL_SNAPSHOTTER_VERSION")
  sms=$(module_dir "github.com/kubernetes-csi/external-snapshot-metadata/client@$EXTERNAL_SNAPSHOT_METADATA_VERSION")
  [[ -d $snap && -d $client && -d $sms ]] || die "the external-snapshotter or external-snapshot-metadata modules are not in the module cache"
  local f
  for f in "$client"/config/crd/*storage.k8s.io_*.yaml "$sms"/config/crd/*.yaml; do
    kctl apply --server-side -f "$f" >/dev/null || die "cannot apply the CRD $f"
  done
  kctl wait --for=condition=Established crd --all --timeout=60s >/dev/null || die "the snapshot CRDs were not established"
  mkdir -p "$d"
  cp "$snap"/deploy/kubernetes/snapshot-controller/{rbac-snapshot-controller.yaml,setup-snapshot-controller.yaml} "$d/"
  chmod u+w "$d"/*.yaml
  cat >"$d/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [rbac-snapshot-controller.yaml, setup-snapshot-controller.yaml]
$(overlay_images)
patches:
  # Distributed snapshotting labels each content with its volume's node.
  - target: {kind: ClusterRole, name: snapshot-controller-runner}
    patch: |
      - {op: add, path: /rules/-, value: {apiGroups: [""], resources: [nodes], verbs: [get, list, watch]}}
  - target: {kind: Deployment, name: snapshot-controller}
    patch: |
      - {op: replace, path: /spec/replicas, value: 1}
      - {op: replace, path: /spec/template/spec/containers/0/imagePullPolicy, value: Never}
      - {op: add, path: /spec/template/spec/containers/0/args/-, value: "--feature-gates=CSIVolumeGroupSnapshot=true"}
      - {op: add, path: /spec/template/spec/containers/0/args/-, value: "--enable-distributed-snapshotting=true"}
YAML
  kctl apply -k "$d" >/dev/null || die "cannot deploy the snapshot-controller"
}

deploy_ditto() {
  local d=$KSTATE/deploy/ditto
  mkdir -p "$d"
  local service=ditto-snapshot-metadata.ditto.svc
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$service" \
    -addext "subjectAltName=DNS:$service,DNS:$service.cluster.local" \
    -keyout "$d/tls.key" -out "$d/tls.crt" 2>/dev/null || die "openssl cannot make the snapshot-metadata certificate"
  local api; api=$(sed -n 's/^apiVersion: \(cbt.storage.k8s.io\/.*\)/\1/p' \
    "$ROOT/deploy/kubernetes/components/snapshot-metadata/make-tls.sh" | head -1)
  cat >"$d/snapshotmetadataservice.yaml" <<YAML
apiVersion: ${api:-cbt.storage.k8s.io/v1beta1}
kind: SnapshotMetadataService
metadata:
  name: ditto.csi.dev
spec:
  address: $service:6443
  audience: ditto.csi.dev
  caCert: $(base64 -w0 "$d/tls.crt")
YAML
  local base comp
  base=$(realpath --relative-to="$d" "$ROOT/deploy/kubernetes")
  comp=$(realpath --relative-to="$d" "$ROOT/deploy/kubernetes/components/snapshot-metadata")
  local c patch=""
  for c in dittod csi-provisioner csi-snapshotter csi-resizer node-driver-registrar liveness-probe csi-snapshot-metadata; do
    patch+="
            - {name: $c, imagePullPolicy: Never}"
  done
  cat >"$d/kustomization.yaml" <<YAML
# deploy/kubernetes with changed-block metadata, on images made on this machine.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$base, snapshotmetadataservice.yaml]
components: [$comp]
secretGenerator:
  - name: ditto-snapshot-metadata-tls
    namespace: ditto
    type: kubernetes.io/tls
    files: [tls.crt, tls.key]
generatorOptions: {disableNameSuffixHash: true}
$(overlay_images)
patches:
  - patch: |
      apiVersion: apps/v1
      kind: DaemonSet
      metadata: {name: ditto-node, namespace: ditto}
      spec:
        template:
          spec:
            containers:$patch
  # The csi-snapshotter (--node-deployment) reads only group snapshot classes
  # labelled with its node: on this one-node cluster, the class itself.
  - patch: |
      apiVersion: groupsnapshot.storage.k8s.io/v1beta2
      kind: VolumeGroupSnapshotClass
      metadata:
        name: ditto
        labels: {snapshot.storage.kubernetes.io/managed-by: $NODE_NAME}
YAML
  kctl apply -k "$d" >"$KLOGS/deploy-ditto.log" 2>&1 || die "kubectl apply -k of deploy/kubernetes failed: see $KLOGS/deploy-ditto.log"
}

wait_for_ditto() {
  kctl -n ditto rollout status ds/ditto-node --timeout=300s >/dev/null \
    || die "the ditto-node DaemonSet did not become Ready: kubectl -n ditto describe pods; logs in $KLOGS"
  csinode_lists_ditto() { kctl get csinode "$NODE_NAME" -o jsonpath='{.spec.drivers[*].name}' | grep -qw ditto.csi.dev; }
  wait_for 120 "CSINode $NODE_NAME to list ditto.csi.dev" csinode_lists_ditto \
    || die "the kubelet did not register ditto.csi.dev: see the node-driver-registrar container's log"
}
