# `bash scripts/kubernetes test [NAME...]`: the scenarios, on the running
# cluster, with pods and kubectl only. One line per scenario: pass or fail,
# and the time from `kubectl apply` of the clone (or restore) to Bound.

TNS=ditto-test
EXAMPLES_DIR=$ROOT/examples

# pod NAME NS SCRIPT CLAIM...: a busybox pod running SCRIPT with each claim
# mounted at /data<index> (/data0, /data1, ...).
pod() {
  local name=$1 ns=$2 script=$3; shift 3
  local mounts="" vols="" i=0 c
  for c in "$@"; do
    mounts+="
        - {name: v$i, mountPath: /data$i}"
    vols+="
    - name: v$i
      persistentVolumeClaim: {claimName: $c}"
    i=$((i + 1))
  done
  kctl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: $ns}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: busybox:1.36
      imagePullPolicy: IfNotPresent
      command: ["/bin/sh", "-ec"]
      args:
        - |
$(printf '%s\n' "$script" | sed 's/^/          /')
      volumeMounts:$mounts
  volumes:$vols
YAML
}

claim() { # claim NAME NS CLASS SIZE [EXTRA_SPEC_YAML]
  kctl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $1, namespace: $2}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: $3
  resources: {requests: {storage: $4}}
${5:-}
YAML
}

# clone_on_node NAME NS SOURCE NODE: a 1Gi clone of claim SOURCE, placed on
# NODE (the source's) without waiting for a consumer.
clone_on_node() {
  kctl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: $1
  namespace: $2
  annotations: {volume.kubernetes.io/selected-node: $4}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ditto
  resources: {requests: {storage: 1Gi}}
  dataSource: {kind: PersistentVolumeClaim, name: $3}
YAML
}

pod_done() { # pod_done NAME NS [TIMEOUT]: waits until the pod succeeded
  local name=$1 ns=$2 limit=${3:-180} start=$SECONDS phase
  while ((SECONDS - start < limit)); do
    phase=$(kctl -n "$ns" get pod "$name" -o jsonpath='{.status.phase}' 2>/dev/null || true)
    [[ $phase == Succeeded ]] && return 0
    [[ $phase == Failed ]] && { kctl -n "$ns" logs "$name" >&2 || true; return 1; }
    sleep 1
  done
  log "pod $ns/$name is $phase after ${limit}s"; kctl -n "$ns" describe pod "$name" | tail -15 >&2
  return 1
}

pod_running() {
  local name=$1 ns=$2 limit=${3:-180}
  kctl -n "$ns" wait --for=condition=Ready "pod/$name" --timeout="${limit}s" >/dev/null
}

# bound_after NAME NS START: waits for Bound, prints seconds since START.
bound_after() {
  local name=$1 ns=$2 t0=$3 limit=${4:-180}
  while true; do
    [[ $(kctl -n "$ns" get pvc "$name" -o jsonpath='{.status.phase}' 2>/dev/null) == Bound ]] && break
    if (($(date +%s) - ${t0%.*} > limit)); then
      log "claim $ns/$name is not Bound after ${limit}s"
      kctl -n "$ns" describe pvc "$name" | tail -8 >&2
      return 1
    fi
    sleep 0.2
  done
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

now() { date +%s.%N; }

fresh_namespace() {
  kctl delete namespace "$1" --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1 || true
  kctl create namespace "$1" >/dev/null
}

# ---- the scenarios; each prints the clone's time to Bound (or "-") ----

WRITE='mkdir -p /data0/d; for i in 1 2 3 4 5 6 7 8; do head -c 1048576 /dev/urandom > /data0/d/f$i; done; sync; cd /data0/d && sha256sum f* > /data0/SUMS; cat /data0/SUMS'

scenario_seed() {
  kctl delete namespace myns --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1 || true
  kctl apply -f "$EXAMPLES_DIR/namespace.yaml" -f "$EXAMPLES_DIR/storageclass-cloning.yaml" >/dev/null
  kctl apply -f "$EXAMPLES_DIR/pvc-1.yaml" >/dev/null
  pod writer myns "$WRITE" pvc-1
  pod_done writer myns || return 1
  local t0; t0=$(now)
  kctl apply -f "$EXAMPLES_DIR/clone-of-pvc-1.yaml" >/dev/null
  local t; t=$(bound_after clone-of-pvc-1 myns "$t0") || return 1
  pod reader myns 'cd /data0/d && sha256sum -c /data0/SUMS' clone-of-pvc-1
  pod_done reader myns || { log "a file of the clone differs from its source"; return 1; }
  # The source changes, then goes away; the clone stays as it was.
  pod changer myns 'for i in 1 2 3 4; do head -c 1048576 /dev/urandom > /data0/d/f$i; done; rm /data0/d/f8; sync' pvc-1
  pod_done changer myns || return 1
  kctl -n myns delete pod writer changer --wait=true >/dev/null
  kctl -n myns delete pvc pvc-1 --wait=true --timeout=120s >/dev/null || return 1
  pod reader2 myns 'cd /data0/d && sha256sum -c /data0/SUMS' clone-of-pvc-1
  pod_done reader2 myns || { log "the clone changed with its source"; return 1; }
  kctl delete namespace myns --wait=false >/dev/null
  echo "$t"
}

scenario_clone_busy_source() {
  local ns=$TNS-busy
  fresh_namespace $ns
  claim src $ns ditto 1Gi
  pod busy $ns 'i=0; while true; do head -c 65536 /dev/urandom > /data0/f$((i % 64)); i=$((i+1)); done' src
  pod_running busy $ns || return 1
  sleep 3
  local node t0 t
  node=$(kctl -n $ns get pod busy -o jsonpath='{.spec.nodeName}')
  t0=$(now)
  clone_on_node clone $ns src "$node"
  t=$(bound_after clone $ns "$t0") || return 1
  # The clone's ext4 mounts (kubelet runs no repair) and reads back.
  pod check $ns 'ls /data0 | wc -l; cat /data0/f* > /dev/null; grep " /data0 " /proc/mounts' clone
  pod_done check $ns || return 1
  kctl delete namespace $ns --wait=false >/dev/null
  echo "$t"
}

# The node plugin's pod is deleted right after the clone of a mounted, busy
# source is asked for: the DaemonSet restarts it, the clone completes, and
# the source's application keeps writing (a filesystem left frozen would stop
# its heartbeat).
scenario_node_plugin_restart() {
  local ns=$TNS-restart
  fresh_namespace $ns
  claim src $ns ditto 1Gi
  pod busy $ns 'i=0; while true; do head -c 65536 /dev/urandom > /data0/f$((i % 64)); date +%s > /data0/beat; sync; i=$((i+1)); sleep 0.2; done' src
  pod_running busy $ns || return 1
  sleep 2
  local node t0 t plugin
  node=$(kctl -n $ns get pod busy -o jsonpath='{.spec.nodeName}')
  plugin=$(kctl -n ditto get pods -l app.kubernetes.io/name=ditto-node -o jsonpath='{.items[0].metadata.name}')
  t0=$(now)
  clone_on_node clone $ns src "$node"
  kctl -n ditto delete pod "$plugin" --wait=false >/dev/null
  t=$(bound_after clone $ns "$t0" 240) || return 1
  kctl -n ditto rollout status daemonset/ditto-node --timeout=180s >/dev/null \
    || { log "the node plugin did not come back Ready"; return 1; }
  # The application still writes: its heartbeat moves.
  local b1 b2
  b1=$(kctl -n $ns exec busy -- cat /data0/beat)
  sleep 3
  b2=$(kctl -n $ns exec busy -- cat /data0/beat)
  ((b2 > b1)) || { log "the source's application stopped writing (heartbeat $b1, then $b2): left frozen?"; return 1; }
  pod check $ns 'ls /data0 | grep -q beat; cat /data0/f* > /dev/null' clone
  pod_done check $ns || return 1
  kctl delete namespace $ns --wait=false >/dev/null
  echo "$t"
}

scenario_snapshot_restore_expand() {
  local ns=$TNS-snap
  fresh_namespace $ns
  claim src $ns ditto 1Gi
  pod w $ns "$WRITE" src
  pod_done w $ns || return 1
  kctl apply -f - >/dev/null <<YAML
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: snap, namespace: $ns}
spec:
  volumeSnapshotClassName: ditto
  source: {persistentVolumeClaimName: src}
YAML
  kctl -n $ns wait --for=jsonpath='{.status.readyToUse}'=true volumesnapshot/snap --timeout=120s >/dev/null || return 1
  local t0 t
  t0=$(now)
  claim restored $ns cloning 2Gi "  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: snap}"
  t=$(bound_after restored $ns "$t0") || return 1
  pod r $ns 'cd /data0/d && sha256sum -c /data0/SUMS && df -k /data0 | tail -1 | awk "{ exit !(\$2 > 1500000) }"' restored
  pod_done r $ns || { log "the restore lacks its data or was not grown to 2Gi"; return 1; }
  # Online expansion: grow the claim while a pod uses it.
  pod grow $ns 'while ! df -k /data0 | tail -1 | awk "{ exit !(\$2 > 2500000) }"; do sleep 1; done; df -h /data0' restored
  pod_running grow $ns 60 || true
  kctl -n $ns patch pvc restored -p '{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}' >/dev/null
  if has_cap_sys_resource; then
    pod_done grow $ns 180 || { log "the filesystem did not grow online to 3Gi"; return 1; }
  else
    # Root here lacks CAP_SYS_RESOURCE, which growing a mounted ext4 needs:
    # dittod says so on the claim, and the volume grows offline when it is
    # next staged.
    local start=$SECONDS
    until kctl -n $ns get pvc restored -o jsonpath='{.status.conditions[*].message}' | grep -q CAP_SYS_RESOURCE; do
      ((SECONDS - start < 120)) || { log "no NodeResizeError naming CAP_SYS_RESOURCE on the claim"; return 1; }
      sleep 2
    done
    log "  online growth refused here (no CAP_SYS_RESOURCE), as the claim's condition says; growing offline"
    kctl -n $ns delete pod grow --wait=true --timeout=120s >/dev/null
    pod grow2 $ns 'df -k /data0 | tail -1 | awk "{ exit !(\$2 > 2500000) }"; cd /data0/d && sha256sum -c /data0/SUMS' restored
    pod_done grow2 $ns 180 || { log "the filesystem did not grow offline to 3Gi"; return 1; }
  fi
  kctl delete namespace $ns --wait=false >/dev/null
  echo "$t"
}

scenario_block_clone() {
  local ns=$TNS-block
  fresh_namespace $ns
  claim src $ns cloning 64Mi "  volumeMode: Block"
  block_writer w $ns src 'head -c 8388608 /dev/urandom > /tmp/x; dd if=/tmp/x of=/dev/xvda bs=1M conv=fsync 2>/dev/null; sha256sum /tmp/x | cut -c1-64'
  pod_done w $ns || return 1
  local sum; sum=$(kctl -n $ns logs w | tail -1)
  local t0 t
  t0=$(now)
  claim clone $ns cloning 64Mi "  volumeMode: Block
  dataSource: {kind: PersistentVolumeClaim, name: src}"
  t=$(bound_after clone $ns "$t0") || return 1
  block_writer r $ns clone 'head -c 8388608 /dev/xvda | sha256sum | cut -c1-64'
  pod_done r $ns || return 1
  [[ $(kctl -n $ns logs r | tail -1) == "$sum" ]] || { log "the Block clone's bytes differ from its source's"; return 1; }
  kctl delete namespace $ns --wait=false >/dev/null
  echo "$t"
}

scenario_group_snapshot() {
  local ns=$TNS-group
  fresh_namespace $ns
  local c
  for c in a b; do
    claim $c $ns cloning 256Mi
    kctl -n $ns label pvc $c group=g1 >/dev/null
  done
  pod w $ns 'echo A > /data0/a; echo B > /data1/b; sync' a b
  pod_done w $ns || return 1
  kctl apply -f - >/dev/null <<YAML
apiVersion: groupsnapshot.storage.k8s.io/v1beta2
kind: VolumeGroupSnapshot
metadata: {name: g, namespace: $ns}
spec:
  volumeGroupSnapshotClassName: ditto
  source: {selector: {matchLabels: {group: g1}}}
YAML
  kctl -n $ns wait --for=jsonpath='{.status.readyToUse}'=true volumegroupsnapshot/g --timeout=120s >/dev/null || return 1
  local member
  member=$(kctl -n $ns get volumesnapshot -o jsonpath='{range .items[?(@.spec.source.persistentVolumeClaimName=="b")]}{.metadata.name}{end}')
  [[ -n $member ]] || member=$(kctl -n $ns get volumesnapshot -o jsonpath='{.items[1].metadata.name}')
  [[ -n $member ]] || { log "the group snapshot made no member VolumeSnapshots"; return 1; }
  local t0 t
  t0=$(now)
  claim restored $ns cloning 256Mi "  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: $member}"
  t=$(bound_after restored $ns "$t0") || return 1
  pod r $ns 'cat /data0/a /data0/b 2>/dev/null | grep -q "^[AB]$"' restored
  pod_done r $ns || return 1
  kctl delete namespace $ns --wait=false >/dev/null
  echo "$t"
}

scenario_attributes_class() {
  local ns=$TNS-vac
  fresh_namespace $ns
  claim v $ns cloning 256Mi "  volumeAttributesClassName: ditto-thin"
  bound_after v $ns "$(now)" >/dev/null || return 1
  kctl -n $ns patch pvc v -p '{"spec":{"volumeAttributesClassName":"ditto-thick"}}' >/dev/null
  kctl -n $ns wait --for=jsonpath='{.status.currentVolumeAttributesClassName}'=ditto-thick pvc/v --timeout=120s >/dev/null \
    || { kctl -n $ns describe pvc v | tail -6 >&2; return 1; }
  kctl delete namespace $ns --wait=false >/dev/null
  echo -
}

scenario_capacity() {
  local ns=$TNS-cap
  fresh_namespace $ns
  local n; n=$(kctl get csistoragecapacities -A --no-headers 2>/dev/null | wc -l)
  ((n > 0)) || { log "no CSIStorageCapacity objects are published"; return 1; }
  claim huge $ns ditto 100Ti
  pod h $ns 'true' huge
  local start=$SECONDS ev=""
  while ((SECONDS - start < 60)); do
    ev=$(kctl -n $ns get events -o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | grep -iE "capacity|storage" | head -1)
    [[ -n $ev ]] && break
    sleep 2
  done
  [[ $(kctl -n $ns get pvc huge -o jsonpath='{.status.phase}') == Pending ]] || { log "the oversized claim did not stay Pending"; return 1; }
  [[ -n $ev ]] || { log "no event says why the oversized claim is Pending"; return 1; }
  log "  event: $ev"
  kctl delete namespace $ns --wait=false >/dev/null
  echo -
}

# block_writer NAME NS CLAIM SCRIPT: a busybox pod running SCRIPT (no double
# quotes) with the Block claim CLAIM at /dev/xvda.
block_writer() {
  kctl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $2}
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox:1.36
      command: ["/bin/sh", "-ec", "$4"]
      volumeDevices: [{name: v, devicePath: /dev/xvda}]
  volumes: [{name: v, persistentVolumeClaim: {claimName: $3}}]
YAML
}

snapshot_of() { # snapshot_of NAME NS CLAIM: a VolumeSnapshot, waited for
  kctl apply -f - >/dev/null <<YAML
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: $1, namespace: $2}
spec:
  volumeSnapshotClassName: ditto
  source: {persistentVolumeClaimName: $3}
YAML
  kctl -n "$2" wait --for=jsonpath='{.status.readyToUse}'=true "volumesnapshot/$1" --timeout=120s >/dev/null
}

# Changed blocks through the SnapshotMetadata API: a backup application's pod
# (its own ServiceAccount, the upstream client library) asks the
# external-snapshot-metadata sidecar for the blocks changed between two
# snapshots of a Block volume. Prints the seconds the query took.
scenario_changed_blocks() {
  local ns=$TNS-cbt
  fresh_namespace $ns
  claim src $ns cloning 256Mi "  volumeMode: Block"
  block_writer w1 $ns src 'head -c 1048576 /dev/urandom | dd of=/dev/xvda bs=1M conv=fsync 2>/dev/null'
  pod_done w1 $ns || return 1
  snapshot_of base $ns src || return 1
  # 4 MiB at 64 MiB, after the first snapshot.
  block_writer w2 $ns src 'head -c 4194304 /dev/urandom | dd of=/dev/xvda bs=1M seek=64 conv=fsync 2>/dev/null'
  pod_done w2 $ns || return 1
  snapshot_of target $ns src || return 1
  # The backup application: a ServiceAccount with the client's rights.
  kctl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: backup, namespace: $ns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ditto-test-snapshot-metadata-client}
rules:
  - apiGroups: [snapshot.storage.k8s.io]
    resources: [volumesnapshots, volumesnapshotcontents]
    verbs: [get, list, watch]
  - apiGroups: [cbt.storage.k8s.io]
    resources: [snapshotmetadataservices]
    verbs: [get, list]
  - apiGroups: [""]
    resources: [serviceaccounts/token]
    verbs: [create, get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ditto-test-snapshot-metadata-client-$ns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ditto-test-snapshot-metadata-client}
subjects: [{kind: ServiceAccount, name: backup, namespace: $ns}]
YAML
  # This cluster runs no DNS: the pod finds the Service's name by hostAliases.
  local ip; ip=$(kctl -n ditto get service ditto-snapshot-metadata -o jsonpath='{.spec.clusterIP}')
  [[ -n $ip ]] || { log "no ditto-snapshot-metadata Service (the snapshot-metadata component)"; return 1; }
  local t0; t0=$(now)
  kctl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: $ns}
spec:
  restartPolicy: Never
  serviceAccountName: backup
  hostAliases: [{ip: "$ip", hostnames: [ditto-snapshot-metadata.ditto.svc]}]
  containers:
    - name: main
      image: $SNAPSHOT_METADATA_CLIENT_IMAGE
      imagePullPolicy: Never
      args: [-namespace, $ns, -snapshot, target, -base, base]
YAML
  pod_done client $ns || return 1
  local t; t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  local out; out=$(kctl -n $ns logs client)
  local extents bytes
  read -r _ extents _ bytes <<<"$(tail -1 <<<"$out")"
  log "  changed blocks: $extents extent(s), $bytes bytes"
  # The 4 MiB written, at 64 MiB; the first MiB (unchanged) is not in it.
  ((bytes >= 4194304 && bytes <= 8388608)) || { log "changed bytes $bytes, want the 4 MiB written (at most 8 MiB)"; return 1; }
  # Every extent: "OFFSET SIZE" (an omitted offset is 0).
  local pairs
  pairs=$(grep -o '{[^{}]*size_bytes[^{}]*}' <<<"$out" \
    | sed 's/.*"byte_offset":\([0-9]*\).*"size_bytes":\([0-9]*\).*/\1 \2/; s/^{"size_bytes":\([0-9]*\)}$/0 \1/')
  awk '$1 <= 67108864 && 67108864 < $1 + $2 { found = 1 } END { exit !found }' <<<"$pairs" \
    || { log "no changed extent covers 64 MiB: $(head -c 300 <<<"$out")"; return 1; }
  awk '$1 < 1048576 { bad = 1 } END { exit bad }' <<<"$pairs" \
    || { log "the first MiB, unchanged since the base, is listed as changed"; return 1; }
  kctl delete clusterrolebinding ditto-test-snapshot-metadata-client-$ns --ignore-not-found >/dev/null
  kctl delete namespace $ns --wait=false >/dev/null
  echo "$t"
}

scenario_metrics() {
  local p; p=$(kctl -n ditto get pods -l app.kubernetes.io/name=ditto-node -o jsonpath='{.items[0].metadata.name}')
  kctl get --raw "/api/v1/namespaces/ditto/pods/$p:9810/proxy/metrics" | grep -q '^ditto_' \
    || { log "no ditto_ metric on $p:9810/metrics"; return 1; }
  echo -
}

SCENARIOS=(seed clone_busy_source node_plugin_restart snapshot_restore_expand block_clone group_snapshot
           attributes_class changed_blocks capacity metrics)

cmd_test() {
  [[ -f $KUBECONFIG_PATH ]] || die "no cluster: run 'bash scripts/kubernetes up' first"
  local names=("$@"); ((${#names[@]})) || names=("${SCENARIOS[@]}")
  local passed=0 failed=0 s t start
  local total=$SECONDS
  # Most scenarios claim from the seed's StorageClass `cloning`: it exists
  # whichever scenarios run, in whatever order.
  kctl apply -f "$EXAMPLES_DIR/storageclass-cloning.yaml" >/dev/null \
    || die "cannot apply $EXAMPLES_DIR/storageclass-cloning.yaml to the cluster"
  for s in "${names[@]}"; do
    start=$SECONDS
    if t=$("scenario_$s" 2>"$KLOGS/test-$s.log"); then
      printf 'PASS %-26s clone/restore Bound in %ss  (%ds)\n' "$s" "${t:--}" $((SECONDS - start))
      passed=$((passed + 1))
    else
      printf 'FAIL %-26s (%ds), see %s\n' "$s" $((SECONDS - start)) "$KLOGS/test-$s.log"
      sed 's/^/    /' "$KLOGS/test-$s.log" | tail -12
      failed=$((failed + 1))
    fi
  done
  log "test took $((SECONDS - total)) s"
  echo "$passed passed, $failed failed"
  ((failed == 0))
}
