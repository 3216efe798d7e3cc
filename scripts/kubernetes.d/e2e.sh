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
# Tests that cannot pass against a StorageClass with volumeBindingMode
# WaitForFirstConsumer (ditto's: a volume is made on the node of its first
# pod), left out of every run; docs/kubernetes-e2e.md gives each reason.
#   volume-modify-stress "should modify volumes with a different
#   volumeAttributesClass": makes pod objects it never creates, then changes
#   the claims' class; the claims wait for a consumer, stay unbound, and the
#   API server refuses the change (an unbound claim's spec is immutable).
E2E_UNRUNNABLE='volume-modify-stress.*should modify volumes with a different volumeAttributesClass'

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
  (cd "$w" && CGO_ENABLED=0 go_env "$GO" test -c -vet=off -p 2 -trimpath -ldflags "$ld" \
    -o "$KBIN/e2e.test" k8s.io/kubernetes/test/e2e) || die "building e2e.test failed"
  (cd "$w" && CGO_ENABLED=0 go_env "$GO" build -p 2 -trimpath -ldflags "-s -w" \
    -o "$KBIN/ginkgo" github.com/onsi/ginkgo/v2/ginkgo) || die "building the ginkgo CLI failed"
  (cd "$w" && CGO_ENABLED=0 go_env "$GO" build -p 2 -trimpath -ldflags "-s -w" \
    -o "$KBIN/agnhost" k8s.io/kubernetes/test/images/agnhost) || die "building agnhost failed"
  stamp_set $name "$want"
}

# The images the storage tests start, by the names of the release's
# test/utils/image/manifest.go. They are made here from Debian's
# busybox-static and the agnhost built above; nothing is pulled.
E2E_REGISTRY=registry.k8s.io/e2e-test-images

# e2e_image_names: "ID NAME:TAG" of each image the storage suites start,
# read from the release's manifest (BusyBox, Agnhost, Nginx).
e2e_image_tag() {
  local moddir=$1 id=$2
  sed -n "s/^\s*configs\[$id\] = Config{list.PromoterE2eRegistry, \"\([^\"]*\)\", \"\([^\"]*\)\"}.*/\1:\2/p" \
    "$moddir/test/utils/image/manifest.go"
}

# e2e_busybox_root DIR: a root filesystem of Debian's static busybox, with
# every applet linked, /etc/passwd and /etc/group.
e2e_busybox_root() {
  local root=$1 a
  rm -rf "$root" && mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [[ $a == busybox ]] || ln -sf busybox "$root/bin/$a"; done
  mkdir -p "$root/usr" && ln -s ../bin "$root/usr/bin" && ln -s bin "$root/sbin"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
}

# e2e_image NAME REF ENTRYPOINT_JSON CMD_JSON ROOT KEY: a one-layer image of
# the tree ROOT, saved as $KIMAGES/NAME.tar (unless made from KEY already).
e2e_image() {
  local name=$1 ref=$2 entry=$3 cmd=$4 root=$5 key=$6
  image_ok "$name" "$key" && return 0
  log "making image $ref"
  local c
  c=$(bah from --quiet scratch) || die "buildah cannot create a container"
  bah copy --quiet "$c" "$root" / >/dev/null || die "cannot copy $root into $ref"
  bah config --entrypoint "$entry" --cmd "$cmd" --workingdir / --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  bah commit --quiet --rm "$c" "$ref" >/dev/null || die "cannot commit $ref"
  save_image "$name" "$ref" "$key"
}

build_e2e_images() {
  mkdir -p "$KIMAGES" "$BUILDAH_ROOT"
  local moddir busybox agnhost nginx dnsutils
  moddir=$(cd "$KCACHE/src/e2e" && go_env "$GO" list -m -f '{{.Dir}}' k8s.io/kubernetes) \
    || die "the e2e wrapper module is not built: run build_e2e first"
  busybox=$(e2e_image_tag "$moddir" BusyBox)
  agnhost=$(e2e_image_tag "$moddir" Agnhost)
  nginx=$(e2e_image_tag "$moddir" Nginx)
  dnsutils=$(e2e_image_tag "$moddir" JessieDnsutils)
  [[ -n $busybox && -n $agnhost && -n $nginx && -n $dnsutils ]] \
    || die "cannot read the busybox, agnhost, nginx and jessie-dnsutils tags from $moddir/test/utils/image/manifest.go"
  local bb; bb=$(dpkg-query -W -f '${Version}' busybox-static) || die "busybox-static is not installed"
  local root=$KCACHE/src/e2e-image-root

  # busybox: the suites' default test image (shell, dd, md5sum, mount, ...).
  if ! image_ok e2e-busybox "$busybox $bb"; then
    e2e_busybox_root "$root"
    e2e_image e2e-busybox "$E2E_REGISTRY/$busybox" '[]' '["sh"]' "$root" "$busybox $bb"
  fi
  # agnhost: the binary of the release (test/images/agnhost) on the busybox
  # root, laid out as its Dockerfile does.
  local akey; akey="$agnhost $bb $(cat "$KBIN/.e2e.stamp")"
  if ! image_ok e2e-agnhost "$akey"; then
    e2e_busybox_root "$root"
    cp "$KBIN/agnhost" "$root/agnhost" && ln -s agnhost "$root/agnhost-2"
    cp "$moddir/test/images/agnhost/porter/localhost.crt" "$moddir/test/images/agnhost/porter/localhost.key" "$root/"
    chmod u+w "$root"/localhost.*
    mkdir -p "$root/uploads"
    echo 'user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh' >>"$root/etc/passwd"
    printf 'user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n' >>"$root/etc/group"
    e2e_image e2e-agnhost "$E2E_REGISTRY/$agnhost" '["/agnhost"]' '["pause"]' "$root" "$akey"
  fi
  # nginx: the storage suites only run shell commands in it (the exec test);
  # busybox's httpd serves its default command.
  if ! image_ok e2e-nginx "$nginx $bb"; then
    e2e_busybox_root "$root"
    mkdir -p "$root/usr/share/nginx/html"
    echo 'ditto e2e' >"$root/usr/share/nginx/html/index.html"
    e2e_image e2e-nginx "$E2E_REGISTRY/$nginx" '[]' '["httpd","-f","-p","80","-h","/usr/share/nginx/html"]' \
      "$root" "$nginx $bb"
  fi
  # jessie-dnsutils: a Debian with GNU coreutils, as upstream's (the
  # multivolume suite writes with `dd oflag=nocache`, which busybox lacks):
  # the debian:12 base that ditto's image is built on.
  image_debian_base
  local base; base=$(bah inspect --type image --format '{{.FromImageID}}' docker.io/library/debian:12) \
    || die "cannot inspect the debian:12 base image"
  if ! image_ok e2e-dnsutils "$dnsutils $base"; then
    log "making image $E2E_REGISTRY/$dnsutils"
    local c
    c=$(bah from --quiet docker.io/library/debian:12) || die "buildah cannot start from debian:12"
    bah config --entrypoint '[]' --cmd '["sh"]' "$c"
    bah commit --quiet --rm "$c" "$E2E_REGISTRY/$dnsutils" >/dev/null || die "cannot commit $E2E_REGISTRY/$dnsutils"
    save_image e2e-dnsutils "$E2E_REGISTRY/$dnsutils" "$dnsutils $base"
  fi
  rm -rf "$root"
}

import_e2e_images() {
  local f
  for f in "$KIMAGES"/e2e-*.tar; do
    ctr_k8s images import --no-unpack=false "$f" >/dev/null || die "ctr cannot import $f"
  done
}

# The running cluster has a Ready node and ditto's pods run.
e2e_check_cluster() {
  [[ -f $KUBECONFIG_PATH ]] || die "no cluster: $KUBECONFIG_PATH is missing; run 'bash scripts/kubernetes up' first"
  kctl get nodes --no-headers 2>/dev/null | grep -qw Ready \
    || die "no Ready node in the cluster of $KUBECONFIG_PATH; run 'bash scripts/kubernetes up' first"
  local pods
  pods=$(kctl -n ditto get pods --no-headers 2>/dev/null) || die "cannot list the pods of namespace ditto"
  [[ -n $pods ]] && ! grep -vqw Running <<<"$pods" \
    || die "ditto's pods are not all Running (kubectl -n ditto get pods); run 'bash scripts/kubernetes up'"
}

# e2e_run PHASE PROCS LABEL_FILTER: one ginkgo run of the External Storage
# tests for ditto; reports in $E2E_OUT/PHASE. Its failures are counted from
# the reports, so its exit status is not fatal here.
e2e_run() {
  local phase=$1 procs=$2 labels=$3 dir=$E2E_OUT/$1
  rm -rf "$dir" && mkdir -p "$dir"
  local focus='External.Storage \[Driver: ditto\.csi\.dev\]'
  [[ -n ${DITTO_E2E_FOCUS:-} ]] && focus+=".*(${DITTO_E2E_FOCUS})"
  local skip=$E2E_UNRUNNABLE
  [[ -n ${DITTO_E2E_SKIP:-} ]] && skip+="|${DITTO_E2E_SKIP}"
  log "e2e $phase: $procs process(es), label filter '$labels', log $dir/e2e.log"
  local args=(--procs="$procs" --focus="$focus" --label-filter="$labels" --timeout=24h
              --no-color --silence-skips --poll-progress-after=10m)
  args+=(--skip="$skip")
  # The suite reads some FromFile paths relative to its working directory
  # (ginkgo's is the binary's), others under --repo-root: the definition is
  # passed with the repository's paths made absolute.
  sed "s|^\(\s*FromFile:\s*\)\([^/ ].*\)$|\1$ROOT/\2|" "$E2E_DRIVER" >"$dir/test-driver.yaml"
  "$KBIN/ginkgo" "${args[@]}" "$KBIN/e2e.test" -- \
    --kubeconfig="$KUBECONFIG_PATH" --storage.testdriver="$dir/test-driver.yaml" --repo-root="$ROOT" \
    --report-dir="$dir" --report-complete-ginkgo --provider=skeleton \
    >"$dir/e2e.log" 2>&1 || true
  [[ -f $dir/ginkgo/report.json ]] || die "the e2e $phase run wrote no report: see $dir/e2e.log"
}

# The specs that ran (or were skipped by the suite itself, with a reason)
# of every report given; specs outside the focus are left out.
E2E_JQ_SPECS='[.[][] | .SpecReports[]? | select(.LeafNodeType == "It")
  | select(.State != "skipped" or ((.Failure.Message // "") != ""))
  | {name: ((.ContainerHierarchyTexts // []) + [.LeafNodeText] | join(" ")), state: .State,
     time: ((.RunTime // 0) / 1e9), message: (.Failure.Message // ""),
     where: ((.Failure.Location.FileName // "") + ":" + ((.Failure.Location.LineNumber // 0) | tostring))}]
  | map(.kind = (if .state == "passed" then "passed" elif .state == "skipped" then "skipped"
                 elif .state == "pending" then "skipped" else "failed" end))'

# e2e_junit REPORT.JSON...: one JUnit document of the runs.
e2e_junit() {
  jq -rs "$E2E_JQ_SPECS"' as $s
    | ($s | map(select(.kind == "failed")) | length) as $f
    | ($s | map(select(.kind == "skipped")) | length) as $k
    | ($s | map(.time) | add // 0) as $t
    | "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
      "<testsuites tests=\"\($s | length)\" failures=\"\($f)\" errors=\"0\" skipped=\"\($k)\" time=\"\($t)\">",
      "  <testsuite name=\"Kubernetes e2e External Storage: ditto.csi.dev\" tests=\"\($s | length)\" failures=\"\($f)\" errors=\"0\" skipped=\"\($k)\" time=\"\($t)\">",
      ($s[] | "    <testcase name=\"\(.name | @html)\" classname=\"Kubernetes e2e suite\" status=\"\(.state)\" time=\"\(.time)\">"
        + (if .kind == "failed" then "<failure type=\"\(.state)\" message=\"\(.where | @html)\">\(.message | @html)</failure>"
           elif .kind == "skipped" then "<skipped message=\"\(.message | @html)\"/>" else "" end)
        + "</testcase>"),
      "  </testsuite>", "</testsuites>"' "$@"
}

# e2e_summary REPORT.JSON...: "N passed, N failed, N skipped", then the
# failed tests, one a line.
e2e_summary() {
  jq -rs "$E2E_JQ_SPECS"' | "\(map(select(.kind == "passed")) | length) passed, \(map(select(.kind == "failed")) | length) failed, \(map(select(.kind == "skipped")) | length) skipped",
    (.[] | select(.kind == "failed") | "  FAILED: \(.name)")' "$@"
}

# e2e_skips REPORT.JSON...: the reasons the suite gave for its skips, with
# how many tests each skipped, most first.
e2e_skips() {
  jq -rs "$E2E_JQ_SPECS"' | map(select(.kind == "skipped")) | group_by(.message | split("\n")[0])
    | sort_by(-length)[] | "\(length)\t\(.[0].message | split("\n")[0])"' "$@"
}

# bash scripts/kubernetes conformance: the External Storage tests for ditto,
# those that may run in parallel first (DITTO_E2E_PROCS, default 2), then
# the Serial and Disruptive ones one at a time. DITTO_E2E_FOCUS narrows the
# tests to those matching a regular expression, DITTO_E2E_SKIP leaves out
# those matching one; DITTO_E2E_SERIAL=0 leaves out the serial run.
cmd_conformance() {
  check_host
  command -v jq >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends jq >/dev/null; } || die "apt-get cannot install jq"
  e2e_check_cluster
  mkdir -p "$KCACHE/logs"
  timed "e2e build" build_e2e
  timed "e2e images" build_e2e_images
  import_e2e_images
  local start=$SECONDS reports=()
  e2e_run parallel "${DITTO_E2E_PROCS:-2}" '!Serial && !Disruptive'
  reports+=("$E2E_OUT/parallel/ginkgo/report.json")
  if [[ ${DITTO_E2E_SERIAL:-1} != 0 ]]; then
    e2e_run serial 1 'Serial || Disruptive'
    reports+=("$E2E_OUT/serial/ginkgo/report.json")
  fi
  local wall=$((SECONDS - start))
  e2e_junit "${reports[@]}" >"$E2E_OUT/junit.xml"
  e2e_skips "${reports[@]}" >"$E2E_OUT/skipped.txt"
  local summary; summary=$(e2e_summary "${reports[@]}")
  echo "$summary"
  echo "wall time: $((wall / 60)) min $((wall % 60)) s; JUnit: $E2E_OUT/junit.xml; skip reasons: $E2E_OUT/skipped.txt; logs: $E2E_OUT/*/e2e.log"
  [[ $summary == *" 0 failed,"* ]]
}
