# The one-node cluster: certificates, configuration, the daemons in start
# order, and their removal. Sourced by scripts/kubernetes.

PAUSE_IMAGE=registry.k8s.io/pause:3.10.1
# The backup client of the changed_blocks test (snapshot-metadata-client/).
SNAPSHOT_METADATA_CLIENT_IMAGE=localhost/ditto/snapshot-metadata-client:test
PKI=$KSTATE/pki

# cert NAME CN ORG [SAN]: a key and a certificate signed by the cluster CA.
cert() {
  local name=$1 cn=$2 org=$3 san=${4:-}
  local subj="/CN=$cn"; [[ -n $org ]] && subj="/O=$org$subj"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" \
    -out "$PKI/$name.csr" 2>/dev/null || die "openssl cannot make the $name key"
  local ext="keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth"
  [[ -n $san ]] && ext+="
subjectAltName=$san"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -extfile <(echo "$ext") -out "$PKI/$name.crt" 2>/dev/null || die "openssl cannot sign $name"
  rm -f "$PKI/$name.csr"
}

# kubeconfig FILE CERT_NAME: a kubeconfig for the client certificate NAME.
kubeconfig() {
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: ditto
    cluster:
      certificate-authority: $PKI/ca.crt
      server: https://$NODE_IP:$APISERVER_PORT
users:
  - name: $2
    user:
      client-certificate: $PKI/$2.crt
      client-key: $PKI/$2.key
contexts:
  - name: ditto
    context: {cluster: ditto, user: $2}
current-context: ditto
YAML
}

make_pki() {
  mkdir -p "$PKI"
  openssl req -x509 -new -newkey rsa:2048 -nodes -days 30 -subj /CN=ditto-kubernetes-ca \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null || die "openssl cannot make the cluster CA"
  cert apiserver kube-apiserver "" \
    "IP:$NODE_IP,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin kubernetes-admin system:masters
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert controller-manager system:kube-controller-manager ""
  cert scheduler system:kube-scheduler ""
  cert kube-proxy system:kube-proxy ""
  cert kubelet "system:node:$NODE_NAME" system:nodes
  cert kubelet-serving "$NODE_NAME" "" "IP:$NODE_IP,DNS:$NODE_NAME"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null && openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null \
    || die "openssl cannot make the service account key"
  local c
  for c in admin controller-manager scheduler kube-proxy kubelet; do kubeconfig "$KSTATE/$c.kubeconfig" "$c"; done
}

# The kubelet's directory and ditto's pool directory are shared mounts, so
# that the node plugin's Bidirectional mounts reach the kubelet and pods.
make_shared_dirs() {
  local d
  for d in "$KUBELET_DIR" "$DITTO_POOL_DIR"; do
    mkdir -p "$d"
    mount --bind "$d" "$d" || die "cannot bind-mount $d"
    mount --make-rshared "$d" || die "cannot make $d a shared mount"
    echo "$d" >>"$KSTATE/made-mounts"
  done
}

# Whether root here may lower an oom_score_adj (CAP_SYS_RESOURCE, bit 24 of
# the effective set). Some VMs and containers withhold it; then runc fails
# every pod sandbox, whose oom_score_adj the CRI sets to -998 ("can't get
# final child's PID from pipe: EOF"), unless containerd keeps the scores at
# or above its own.
has_cap_sys_resource() {
  local cap
  cap=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
  (( (16#$cap >> 24) & 1 ))
}

write_containerd_config() {
  mkdir -p "$KSTATE/containerd" "$KSTATE/cni/net.d"
  local restrict_oom=false
  has_cap_sys_resource || restrict_oom=true
  cat >"$KSTATE/containerd/config.toml" <<TOML
version = 2
root = "$KSTATE/containerd/root"
state = "$KSTATE/containerd/state"
[grpc]
  address = "$KSTATE/containerd/containerd.sock"
[ttrpc]
  address = "$KSTATE/containerd/containerd.sock.ttrpc"
[debug]
  address = "$KSTATE/containerd/debug.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = $restrict_oom
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$KSTATE/cni/net.d"
TOML
  cat >"$KSTATE/cni/net.d/10-ditto.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "ditto-k8s",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$KSTATE/cni/ipam"
      }
    }
  ]
}
JSON
}

write_kubelet_config() {
  cat >"$KSTATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
# This machine has cgroup v1 (hybrid): 1.34 warns, later releases need this.
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$KSTATE/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
podLogsDir: $KSTATE/pod-logs
# Every image is imported, none can be pulled: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
serializeImagePulls: false
resolvConf: /etc/resolv.conf
YAML
}

cluster_up() {
  NODE_IP=$(node_ip)
  [[ -n $NODE_IP ]] || die "cannot find this machine's address (no default route?)"
  mkdir -p "$KSTATE" "$KLOGS" "$KPIDS"
  for d in /var/log/containers /var/log/pods; do [[ -e $d ]] || { mkdir -p "$d"; echo "$d" >>"$KSTATE/made-dirs"; }; done
  for d in "$KUBELET_DIR" "$DITTO_POOL_DIR"; do [[ -e $d ]] || echo "$d" >>"$KSTATE/made-dirs"; done
  save_sysctls
  make_pki
  make_shared_dirs
  write_containerd_config
  write_kubelet_config

  start_daemon containerd containerd --config "$KSTATE/containerd/config.toml"
  wait_for 60 "containerd" ctr_k8s version || die "containerd did not start: see $KLOGS/containerd.log"
  import_images

  start_daemon etcd "$KBIN/etcd" --name ditto --data-dir "$KSTATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "ditto=http://127.0.0.1:$ETCD_PEER_PORT" --quota-backend-bytes 2147483648
  start_daemon kube-apiserver "$KBIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-address "$NODE_IP" --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range "$SERVICE_CIDR" --authorization-mode Node,RBAC \
    --allow-privileged=true --enable-priority-and-fairness=false --v=1
  wait_for 120 "the API server" kctl get --raw /readyz || die "kube-apiserver did not become ready: see $KLOGS/kube-apiserver.log"
  start_daemon kube-controller-manager "$KBIN/kube-controller-manager" \
    --kubeconfig "$KSTATE/controller-manager.kubeconfig" --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" --v=1
  start_daemon kube-scheduler "$KBIN/kube-scheduler" \
    --kubeconfig "$KSTATE/scheduler.kubeconfig" --leader-elect=false --v=1
  start_daemon kube-proxy "$KBIN/kube-proxy" \
    --kubeconfig "$KSTATE/kube-proxy.kubeconfig" --hostname-override "$NODE_NAME" \
    --proxy-mode iptables --cluster-cidr "$POD_CIDR" --conntrack-max-per-core 0 --v=1
  start_daemon kubelet "$KBIN/kubelet" \
    --config "$KSTATE/kubelet.yaml" --kubeconfig "$KSTATE/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$KUBELET_DIR" --v=1
  wait_for 180 "node $NODE_NAME Ready" kctl wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s \
    || die "the node did not become Ready: see $KLOGS/kubelet.log and $KLOGS/containerd.log"
}

# Every container containerd runs for the cluster: killed, then removed, and
# their shims stopped by the PIDs containerd recorded.
remove_containers() {
  [[ -S $KSTATE/containerd/containerd.sock ]] || return 0
  local id
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  sleep 1
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks rm -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_k8s containers ls -q 2>/dev/null); do ctr_k8s containers rm "$id" >/dev/null 2>&1 || true; done
}

stop_shims() {
  local f
  for f in "$KSTATE"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [[ -f $f ]] && stop_pid "$(cat "$f")" "containerd shim"
  done
  return 0
}

# The kernel settings the kubelet and kube-proxy change: saved by `up`,
# restored by `down`.
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
 kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet net.ipv4.ip_forward"
save_sysctls() {
  local k
  for k in $SYSCTLS; do echo "$k=$(sysctl -n "$k" 2>/dev/null)"; done >"$KSTATE/sysctls.saved"
}
restore_sysctls() {
  [[ -f $KSTATE/sysctls.saved ]] || return 0
  local line
  while read -r line; do [[ $line == *= ]] || sysctl -q -w "$line" >/dev/null 2>&1 || true; done <"$KSTATE/sysctls.saved"
}

# The cgroups the kubelet made for pods (empty once their processes are gone).
remove_pod_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice /sys/fs/cgroup/unified/kubepods; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  return 0
}

# Mounts under PATH, deepest first.
mounts_under() {
  awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | uniq
}

cluster_down() {
  [[ -d $KSTATE ]] || return 0
  log "stopping the cluster under $KSTATE"
  stop_daemon kubelet
  remove_containers
  local name
  if [[ -f $KPIDS/order ]]; then
    for name in $(tac "$KPIDS/order"); do stop_daemon "$name"; done
  fi
  stop_shims
  [[ -x $KBIN/kube-proxy ]] && "$KBIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # Mounts: pod volumes, the pool, container root filesystems, netns files.
  local p m
  for p in "$KUBELET_DIR" "$DITTO_POOL_DIR" "$KSTATE" /run/netns /var/run/netns; do
    for m in $(mounts_under "$p"); do
      [[ $m == /run/netns || $m == /var/run/netns ]] && continue
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
    done
  done
  # Loop devices whose backing file was in the pool or state directory. Those
  # dittod attached in its pod name their file from a mount only the pod saw
  # (the pool as /pool/backing.img, a volume as /volumes/vol-*/disk.img):
  # volumes first, as they keep the pool's filesystem alive.
  # The kubelet holds each block volume it maps with a loop device of its own
  # over the volume's device node (named from the kubelet's mount, so found
  # by the node's device and inode): those first, or the volume's stays busy.
  local dev file id ref majmin ino
  while read -r dev file; do
    case $file in
      "$DITTO_POOL_DIR"/* | "$KSTATE"/* | "$KUBELET_DIR"/* | /volumes/vol-*/disk.img*)
        id=$(stat -c '%Hd:%Ld %i' "$dev") || continue
        while read -r ref majmin ino; do
          [[ "$majmin $ino" == "$id" ]] && { losetup -d "$ref" || log "cannot detach $ref (it holds $dev)"; }
        done < <(losetup -n -O NAME,BACK-MAJ:MIN,BACK-INO 2>/dev/null)
        ;;
    esac
  done < <(losetup -n -O NAME,BACK-FILE 2>/dev/null)
  while read -r dev file; do
    case $file in
      "$DITTO_POOL_DIR"/* | "$KSTATE"/* | "$KUBELET_DIR"/* | /volumes/vol-*/disk.img*)
        losetup -d "$dev" || log "cannot detach $dev" ;;
    esac
  done < <(losetup -n -O NAME,BACK-FILE 2>/dev/null)
  while read -r dev file; do
    case $file in /pool/backing.img*) losetup -d "$dev" || log "cannot detach $dev" ;; esac
  done < <(losetup -n -O NAME,BACK-FILE 2>/dev/null)
  # Network namespaces the CNI made for pods, and the bridge.
  local ns
  for ns in /run/netns/cni-*; do [[ -e $ns ]] && { umount "$ns" 2>/dev/null || true; rm -f "$ns"; }; done
  ip link del "$CNI_BRIDGE" 2>/dev/null || true
  remove_pod_cgroups
  restore_sysctls
  if [[ -f $KSTATE/made-dirs ]]; then
    local d; while read -r d; do rm -rf --one-file-system "$d"; done <"$KSTATE/made-dirs"
  fi
  # Keep the last run's logs for reading after `down`.
  rm -rf "$KCACHE/logs/last-run" && mkdir -p "$KCACHE/logs" && cp -r "$KLOGS" "$KCACHE/logs/last-run" 2>/dev/null || true
  rm -rf "$KSTATE"
  log "cluster removed (its logs: $KCACHE/logs/last-run)"
}
