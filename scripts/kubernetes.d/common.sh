# Shared by scripts/kubernetes and its helpers: paths, logging, and the
# processes the script starts (each logged to a file, stopped by its PID).

# Everything a running cluster owns lives under KSTATE; `down` removes it.
KSTATE=${DITTO_KUBE_STATE:-/var/lib/ditto-kubernetes}
KLOGS=$KSTATE/logs
KPIDS=$KSTATE/pids
KUBECONFIG_PATH=$KSTATE/admin.kubeconfig
# Paths the Kubernetes manifests name; made (and removed) by the script.
KUBELET_DIR=/var/lib/kubelet
DITTO_POOL_DIR=/var/lib/ditto
NODE_NAME=ditto-k8s-node
ETCD_CLIENT_PORT=12379
ETCD_PEER_PORT=12380
APISERVER_PORT=6443
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1
POD_CIDR=10.244.0.0/24
CNI_BRIDGE=dittok8s0

log() { echo "[$(date +%T)] $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# The address pods reach the API server at: this machine's own address on
# its default route (traffic to it never leaves the machine).
node_ip() {
  ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1
}

# start_daemon NAME COMMAND...: starts COMMAND in its own session, output to
# $KLOGS/NAME.log, PID in $KPIDS/NAME.pid, start order in $KPIDS/order.
start_daemon() {
  local name=$1; shift
  mkdir -p "$KLOGS" "$KPIDS"
  setsid "$@" >>"$KLOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$KPIDS/$name.pid"
  echo "$name" >>"$KPIDS/order"
  log "started $name (pid $!, log $KLOGS/$name.log)"
}

pid_alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# stop_pid PID WHAT: SIGTERM, then SIGKILL after 20 s.
stop_pid() {
  local pid=$1 what=$2 i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do pid_alive "$pid" || return 0; sleep 0.5; done
  log "$what (pid $pid) ignored SIGTERM for 20 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do pid_alive "$pid" || return 0; sleep 0.5; done
}

stop_daemon() {
  local f=$KPIDS/$1.pid
  [[ -f $f ]] || return 0
  stop_pid "$(cat "$f")" "$1"
  rm -f "$f"
}

# wait_for SECONDS WHAT COMMAND...: retries COMMAND every 2 s.
wait_for() {
  local limit=$1 what=$2 start=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - start < limit)) || { log "timed out after ${limit}s waiting for $what"; return 1; }
    sleep 2
  done
}

kctl() { "$KBIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
ctr_k8s() { ctr --address "$KSTATE/containerd/containerd.sock" -n k8s.io "$@"; }
