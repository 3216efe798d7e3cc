# Kubernetes' own External Storage e2e tests against ditto (sourced by
# scripts/kubernetes after build.sh and images.sh):
#   build_e2e          e2e.test, the ginkgo CLI and agnhost of the pinned
#                      release, through a wrapper module, into $KBIN (cached)
#   build_e2e_images   the e2e-test-images the storage tests start, made here
#                      and imported into containerd under their exact names
#   cmd_conformance    the External Storage tests for ditto on the running
#                      cluster: JUnit in build/kubernetes-e2e, counts and time
# The driver definition is tests/kubernetes/test-driver.yaml; see
# docs/kubernetes-e2e.md.

E2E_OUT=${DITTO_E2E_OUT:-$ROOT/build/kubernetes-e2e}
E2E_DRIVER=$ROOT/tests/kubernetes/test-driver.yaml

# The import paths of test/e2e/e2e_test.go (the packages that register the
# tests), so that `go mod tidy` keeps every module the test binary needs.
e2e_test_imports() {
  sed -n '/^import (/,/^)/p' "$1" | sed -n 's/^\s*\(\w\+ \)\?"\([a-z0-9.-]*\.[a-z]*\/[^"]*\)"$/\2/p'
}

build_e2e() {
  local v=$KUBERNETES_VERSION name=e2e
  local want="$v e2e.test ginkgo agnhost"
  stamp_ok $name "$want" && return 0
  local w=$KCACHE/src/e2e staging=v0.${v#v1.}
  log "building e2e.test, ginkgo and agnhost of Kubernetes $v into $KBIN"
  wrapper_module "$w" ditto.dev/kubernetes-e2e-build
  local info gomod moddir
  info=$(cd "$w" && go_env "$GO" mod download -json "k8s.io/kubernetes@$v")
  gomod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' <<<"$info")
  moddir=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$info")
  [[ -f $gomod && -d $moddir ]] || die "cannot download k8s.io/kubernetes@$v from the Go module proxy"
  # As in build_kubernetes: every staging module at its published release.
  local m
  for m in $(sed -n 's|^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*|\1|p' "$gomod"); do
    (cd "$w" && go_env "$GO" mod edit -replace "$m=$m@$staging")
  done
  (cd "$w" && go_env "$GO" mod edit -require "k8s.io/kubernetes@$v")
  {
    echo '//go:build tools'; echo; echo 'package tools'; echo; echo 'import ('
    local p
    for p in k8s.io/kubernetes/test/e2e k8s.io/kubernetes/test/images/agnhost \
             github.com/onsi/ginkgo/v2/ginkgo $(e2e_test_imports "$moddir/test/e2e/e2e_test.go"); do
      echo "	_ \"$p\""
    done | sort -u
    echo ')'
  } >"$w/tools.go"
  (cd "$w" && go_env "$GO" mod tidy) || die "go mod tidy of the e2e wrapper module failed (see above)"
  local minor=${v#v1.}; minor=${minor%%.*}
  local ld="-s -w" k
  for k in client-go/pkg/version component-base/version; do
    ld+=" -X k8s.io/$k.gitVersion=$v -X k8s.io/$k.gitMajor=1 -X k8s.io/$k.gitMinor=$minor"
    ld+=" -X k8s.io/$k.gitTreeState=clean -X k8s.io/$k.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$KBIN"
  # e2e.test is the test binary of test/e2e, as upstream's make WHAT=test/e2e/e2e.test.
  (cd "$w" && CGO_ENABLED=0 go_env "$GO" test -c -p 2 -trimpath -ldflags "$ld" \
    -o "$KBIN/e2e.test" k8s.io/kubernetes/test/e2e) || die "building e2e.test failed"
  (cd "$w" && CGO_ENABLED=0 go_env "$GO" build -p 2 -trimpath -ldflags "-s -w" \
    -o "$KBIN/ginkgo" github.com/onsi/ginkgo/v2/ginkgo) || die "building the ginkgo CLI failed"
  (cd "$w" && CGO_ENABLED=0 go_env "$GO" build -p 2 -trimpath -ldflags "-s -w" \
    -o "$KBIN/agnhost" k8s.io/kubernetes/test/images/agnhost) || die "building agnhost failed"
  stamp_set $name "$want"
}
