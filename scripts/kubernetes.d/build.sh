# Builds every upstream component named in versions.env from the Go module
# proxy into $KCACHE (sourced by scripts/kubernetes). A component is rebuilt
# only when its pinned version changes: each build leaves a stamp naming it.

KCACHE=${DITTO_KUBE_CACHE:-/var/cache/ditto-kubernetes}
KBIN=$KCACHE/bin
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

# Go builds share the machine: two packages at a time.
go_env() {
  env GOFLAGS=-buildvcs=false GOTOOLCHAIN=local "$@"
}

# stamp_ok NAME VERSION: true when NAME was built at VERSION.
stamp_ok() { [[ -f $KBIN/.$1.stamp && $(cat "$KBIN/.$1.stamp") == "$2" ]]; }
stamp_set() { echo "$2" >"$KBIN/.$1.stamp"; }

# wrapper_module DIR MODULE_PATH: an empty module in DIR, ready for requires.
wrapper_module() {
  rm -rf "$1" && mkdir -p "$1" && (cd "$1" && go_env "$GO" mod init "$2" >/dev/null 2>&1)
}

# The static commands; the kubelet is added with cgo, as upstream builds it.
KUBERNETES_STATIC_COMMANDS="kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl"

build_kubernetes() {
  local v=$KUBERNETES_VERSION name=kubernetes
  stamp_ok $name "$v $KUBERNETES_STATIC_COMMANDS kubelet" && return 0
  local w=$KCACHE/src/kubernetes staging=v0.${v#v1.}
  log "building Kubernetes $v (staging modules $staging) into $KBIN"
  wrapper_module "$w" ditto.dev/kubernetes-build
  local gomod
  gomod=$(cd "$w" && go_env "$GO" mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f $gomod ]] || die "cannot download k8s.io/kubernetes@$v from the Go module proxy"
  # Every staging module replaced by ./staging/... upstream is taken at its
  # published release instead (nested modules are not in the module zip).
  local m
  for m in $(sed -n 's|^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*|\1|p' "$gomod"); do
    (cd "$w" && go_env "$GO" mod edit -replace "$m=$m@$staging")
  done
  (cd "$w" && go_env "$GO" mod edit -require "k8s.io/kubernetes@$v")
  cat >"$w/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$w" && go_env "$GO" mod tidy) || die "go mod tidy of the Kubernetes wrapper module failed (see above)"
  local minor=${v#v1.}; minor=${minor%%.*}
  local ld="-s -w" k
  for k in client-go/pkg/version component-base/version; do
    ld+=" -X k8s.io/$k.gitVersion=$v -X k8s.io/$k.gitMajor=1 -X k8s.io/$k.gitMinor=$minor"
    ld+=" -X k8s.io/$k.gitTreeState=clean -X k8s.io/$k.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$KBIN"
  local c
  for c in $KUBERNETES_STATIC_COMMANDS; do
    (cd "$w" && CGO_ENABLED=0 go_env "$GO" build -p 2 -trimpath -tags selinux,notest \
      -ldflags "$ld" -o "$KBIN/$c" "k8s.io/kubernetes/cmd/$c") || die "building $c failed"
  done
  # The kubelet is built with cgo, as upstream does.
  (cd "$w" && CGO_ENABLED=1 go_env "$GO" build -p 2 -trimpath -tags selinux,notest \
    -ldflags "$ld" -o "$KBIN/kubelet" k8s.io/kubernetes/cmd/kubelet) || die "building kubelet failed"
  stamp_set $name "$v $KUBERNETES_STATIC_COMMANDS kubelet"
}

# A CMD of "." is the module's own main package, built as NAME.
pkg_of() { if [[ $2 == . ]]; then echo "$1"; else echo "$1/$2"; fi; }
bin_of() { if [[ $2 == . ]]; then echo "$1"; else basename "$2"; fi; }

# copy_replaces DIR GOMOD VERSION: the replace lines of the go.mod GOMOD, in
# the wrapper module DIR; a relative replace (a nested module of the same
# repository, absent from the module zip) becomes a require at VERSION.
copy_replaces() {
  local w=$1 gomod=$2 v=$3
  local from to
  while read -r from to; do
    case $to in
      ./FORBIDDEN*) ;;
      ./* | ../*) (cd "$w" && go_env "$GO" mod edit -require "$from@$v") ;;
      *) (cd "$w" && go_env "$GO" mod edit -replace "$from=${to/ /@}") ;;
    esac
  done < <(sed -n 's/^\(replace\)\?\s*\([^ ]*\)\( v[^ ]*\)\? => \([^ ]*\)\( \(v[^ ]*\)\)\?$/\2 \4 \6/p' "$gomod" \
             | awk '{ if ($3 != "") print $1, $2 " " $3; else print $1, $2 }')
}

# build_go_module NAME MODULE VERSION CMD...: builds each CMD (a package path
# inside MODULE) into $KBIN through a wrapper module that carries MODULE's own
# replace lines; a relative replace (a nested module of the same repository,
# absent from the module zip) becomes a require of that module at VERSION.
build_go_module() {
  local name=$1 mod=$2 v=$3; shift 3
  stamp_ok "$name" "$v" && return 0
  local w=$KCACHE/src/$name
  log "building $name $v ($mod) into $KBIN"
  wrapper_module "$w" "ditto.dev/$name-build"
  local gomod
  gomod=$(cd "$w" && go_env "$GO" mod download -json "$mod@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f $gomod ]] || die "cannot download $mod@$v from the Go module proxy"
  copy_replaces "$w" "$gomod" "$v"
  (cd "$w" && go_env "$GO" mod edit -require "$mod@$v")
  {
    echo '//go:build tools'; echo; echo 'package tools'; echo; echo 'import ('
    local c; for c in "$@"; do echo "	_ \"$(pkg_of "$mod" "$c")\""; done
    echo ')'
  } >"$w/tools.go"
  (cd "$w" && go_env "$GO" mod tidy) || die "go mod tidy of the $name wrapper module failed (see above)"
  mkdir -p "$KBIN"
  local c
  for c in "$@"; do
    (cd "$w" && CGO_ENABLED=0 go_env "$GO" build -p 2 -trimpath -ldflags "-s -w -X main.version=$v" \
      -o "$KBIN/$(bin_of "$name" "$c")" "$(pkg_of "$mod" "$c")") || die "building $name $c failed"
  done
  stamp_set "$name" "$v"
}

# The registrar and livenessprobe stand-ins (node-sidecars/main.go), built
# against the Kubernetes release's own kubelet API module.
build_node_sidecars() {
  local src=$KDIR/node-sidecars/main.go name=node-sidecars
  local v; v="$KUBERNETES_VERSION $(sha256sum "$src" | cut -c1-16)"
  stamp_ok $name "$v" && return 0
  local w=$KCACHE/src/$name
  log "building the node sidecars stand-in into $KBIN"
  wrapper_module "$w" ditto.dev/node-sidecars
  cp "$src" "$w/main.go"
  (cd "$w" && go_env "$GO" mod edit -require "k8s.io/kubelet@v0.${KUBERNETES_VERSION#v1.}" \
     -require github.com/container-storage-interface/spec@v1.9.0 && go_env "$GO" mod tidy) \
    || die "go mod tidy of the node sidecars module failed (see above)"
  (cd "$w" && CGO_ENABLED=0 go_env "$GO" build -p 2 -trimpath -ldflags "-s -w" -o "$KBIN/node-sidecars" .) \
    || die "building the node sidecars failed"
  stamp_set $name "$v"
}

# The backup client of the changed_blocks test (snapshot-metadata-client/
# main.go), on the pinned external-snapshot-metadata's client library.
build_snapshot_metadata_client() {
  local src=$KDIR/snapshot-metadata-client/main.go name=snapshot-metadata-client
  local mod=github.com/kubernetes-csi/external-snapshot-metadata v=$EXTERNAL_SNAPSHOT_METADATA_VERSION
  local key; key="$v $(sha256sum "$src" | cut -c1-16)"
  stamp_ok $name "$key" && return 0
  local w=$KCACHE/src/$name
  log "building the snapshot metadata client into $KBIN"
  wrapper_module "$w" ditto.dev/snapshot-metadata-client
  cp "$src" "$w/main.go"
  local gomod
  gomod=$(cd "$w" && go_env "$GO" mod download -json "$mod@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f $gomod ]] || die "cannot download $mod@$v from the Go module proxy"
  copy_replaces "$w" "$gomod" "$v"
  (cd "$w" && go_env "$GO" mod edit -require "$mod@$v" && go_env "$GO" mod tidy) \
    || die "go mod tidy of the snapshot metadata client failed (see above)"
  (cd "$w" && CGO_ENABLED=0 go_env "$GO" build -p 2 -trimpath -ldflags "-s -w" -o "$KBIN/$name" .) \
    || die "building the snapshot metadata client failed"
  stamp_set $name "$key"
}

build_all() {
  build_kubernetes
  build_go_module etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" .
  build_go_module external-provisioner github.com/kubernetes-csi/external-provisioner/v6 \
    "$EXTERNAL_PROVISIONER_VERSION" cmd/csi-provisioner
  build_go_module external-resizer github.com/kubernetes-csi/external-resizer/v2 \
    "$EXTERNAL_RESIZER_VERSION" cmd/csi-resizer
  build_go_module external-snapshotter github.com/kubernetes-csi/external-snapshotter/v8 \
    "$EXTERNAL_SNAPSHOTTER_VERSION" cmd/csi-snapshotter cmd/snapshot-controller
  build_go_module external-snapshot-metadata github.com/kubernetes-csi/external-snapshot-metadata \
    "$EXTERNAL_SNAPSHOT_METADATA_VERSION" cmd/csi-snapshot-metadata
  build_node_sidecars
  build_snapshot_metadata_client
}
