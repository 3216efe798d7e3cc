# Container images made on this machine, with no registry: a debian:12 base
# from Debian's packages (mmdebstrap), ditto from the project's Dockerfile
# (buildah), the sidecars from their binaries, pause from the Kubernetes
# release's own pause.c, busybox:1.36 from Debian's busybox-static. Each is
# saved as a docker-archive under $KCACHE/images and rebuilt only when what
# it is made from changes; `up` imports them into containerd.

KIMAGES=$KCACHE/images
BUILDAH_ROOT=$KCACHE/buildah
DEBIAN_MIRROR=${DITTO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DITTO_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

bah() {
  buildah --root "$BUILDAH_ROOT/root" --runroot "$BUILDAH_ROOT/run" --storage-driver overlay "$@"
}

# image_ok NAME KEY: the archive of NAME exists and was made from KEY.
image_ok() { [[ -f $KIMAGES/$1.tar && -f $KIMAGES/.$1.key && $(cat "$KIMAGES/.$1.key") == "$2" ]]; }

# save_image NAME REF KEY: writes the buildah image REF as NAME's archive.
save_image() {
  rm -f "$KIMAGES/$1.tar"
  bah push -q "$2" "docker-archive:$KIMAGES/$1.tar:$2" >/dev/null || die "cannot save image $2"
  echo "$3" >"$KIMAGES/.$1.key"
}

# from_files NAME REF ENTRYPOINT_JSON SRC:DEST...: a one-layer image of files.
image_from_files() {
  local name=$1 ref=$2 entry=$3; shift 3
  local c
  c=$(bah from --quiet scratch) || die "buildah cannot create a container"
  local f
  for f in "$@"; do bah copy --quiet "$c" "${f%%:*}" "${f#*:}" >/dev/null || die "cannot copy ${f%%:*} into $ref"; done
  bah config --entrypoint "$entry" --cmd '' "$c"
  bah commit --quiet --rm "$c" "$ref" >/dev/null || die "cannot commit $ref"
}

image_debian_base() {
  if ! bah inspect --type image docker.io/library/debian:12 >/dev/null 2>&1; then
    log "making the debian:12 base image with mmdebstrap"
    local tar=$KIMAGES/debian-12-rootfs.tar
    if [[ ! -f $tar ]]; then
      mmdebstrap --quiet --format=tar --variant=minbase --include=ca-certificates bookworm "$tar.part" \
        "deb $DEBIAN_MIRROR bookworm main" "deb $DEBIAN_MIRROR bookworm-updates main" \
        "deb $DEBIAN_SECURITY_MIRROR bookworm-security main" || die "mmdebstrap of Debian 12 failed"
      mv "$tar.part" "$tar"
    fi
    local c
    c=$(bah from --quiet scratch) && bah add --quiet "$c" "$tar" / >/dev/null \
      && bah config --cmd /bin/bash "$c" \
      && bah commit --quiet --rm "$c" docker.io/library/debian:12 >/dev/null || die "cannot make debian:12"
    rm -f "$tar"
  fi
  # The Dockerfile's runtime stage names the slim variant: the same base here.
  # The localhost/ names are how buildah resolves a short name with no registry.
  bah tag docker.io/library/debian:12 docker.io/library/debian:12-slim localhost/debian:12 localhost/debian:12-slim
}

# ditto's image: the project's Dockerfile, rebuilt when what goes into dittod
# and dittoctl changes (committed or not).
image_ditto() {
  local ref=$1 key
  local what=(Dockerfile .dockerignore CMakeLists.txt src proto)
  key=$( (git -C "$ROOT" rev-parse "${what[@]/#/HEAD:}"; git -C "$ROOT" diff HEAD -- "${what[@]}") | sha256sum | cut -c1-16)
  image_ok ditto "$key" && return 0
  image_debian_base
  log "building $ref from $ROOT/Dockerfile (key $key)"
  # The host's compiler cache, shared with the build stage: what scripts/setup
  # compiled for this tree is not compiled again.
  local ccache_dir=${CCACHE_DIR:-$HOME/.cache/ccache}
  mkdir -p "$ccache_dir"
  bah bud --quiet --layers --pull=never --network=host --isolation=chroot \
    --build-arg SRC_DIR="$ROOT" --build-arg CCACHE_DIR=/host-ccache -v "$ccache_dir:/host-ccache" \
    -t "$ref" -f "$ROOT/Dockerfile" "$ROOT" >"$KCACHE/logs/image-ditto.log" 2>&1 \
    || die "building $ref failed: see $KCACHE/logs/image-ditto.log"
  save_image ditto "$ref" "$key"
}

# The images every `up` needs; sets DITTO_IMAGE.
build_images() {
  mkdir -p "$KIMAGES" "$BUILDAH_ROOT" "$KCACHE/logs"
  local s=registry.k8s.io/sig-storage
  local pairs=(
    "csi-provisioner external-provisioner $EXTERNAL_PROVISIONER_VERSION"
    "csi-snapshotter external-snapshotter $EXTERNAL_SNAPSHOTTER_VERSION"
    "snapshot-controller external-snapshotter $EXTERNAL_SNAPSHOTTER_VERSION"
    "csi-resizer external-resizer $EXTERNAL_RESIZER_VERSION"
    "csi-snapshot-metadata external-snapshot-metadata $EXTERNAL_SNAPSHOT_METADATA_VERSION"
  )
  local p bin comp v
  for p in "${pairs[@]}"; do
    read -r bin comp v <<<"$p"
    image_ok "$bin" "$v" && continue
    log "making image $s/$bin:$v"
    image_from_files "$bin" "$s/$bin:$v" "[\"/$bin\"]" "$KBIN/$bin:/$bin"
    save_image "$bin" "$s/$bin:$v" "$v"
  done
  # The registrar and livenessprobe stand-ins: one binary, started by name.
  local nk; nk=$(cat "$KBIN/.node-sidecars.stamp" | tr ' ' '-')
  for bin in csi-node-driver-registrar livenessprobe; do
    image_ok "$bin" "$nk" && continue
    log "making image localhost/ditto/$bin:stand-in"
    image_from_files "$bin" "localhost/ditto/$bin:stand-in" "[\"/$bin\"]" "$KBIN/node-sidecars:/$bin"
    save_image "$bin" "localhost/ditto/$bin:stand-in" "$nk"
  done
  # The backup client the changed_blocks test runs.
  local ck; ck=$(cat "$KBIN/.snapshot-metadata-client.stamp" | tr ' ' '-')
  if ! image_ok snapshot-metadata-client "$ck"; then
    log "making image $SNAPSHOT_METADATA_CLIENT_IMAGE"
    image_from_files snapshot-metadata-client "$SNAPSHOT_METADATA_CLIENT_IMAGE" \
      '["/snapshot-metadata-client"]' "$KBIN/snapshot-metadata-client:/snapshot-metadata-client"
    save_image snapshot-metadata-client "$SNAPSHOT_METADATA_CLIENT_IMAGE" "$ck"
  fi
  # pause, from the Kubernetes release's source.
  local pause_src=$KCACHE/src/kubernetes-pause.c
  if ! image_ok pause "$KUBERNETES_VERSION"; then
    local dir
    dir=$(cd "$KCACHE/src/kubernetes" && go_env "$GO" list -m -f '{{.Dir}}' k8s.io/kubernetes) \
      || die "the Kubernetes module is not in the module cache: run the build first"
    gcc -Os -static -o "$KCACHE/src/pause" -DVERSION="ditto-$KUBERNETES_VERSION" "$dir/build/pause/linux/pause.c" \
      || die "cannot compile pause.c (is gcc with static glibc installed?)"
    image_from_files pause "$PAUSE_IMAGE" '["/pause"]' "$KCACHE/src/pause:/pause"
    save_image pause "$PAUSE_IMAGE" "$KUBERNETES_VERSION"
  fi
  # busybox:1.36, the image the examples run, from Debian's busybox-static.
  local bb_key; bb_key=$(dpkg-query -W -f '${Version}' busybox-static)
  if ! image_ok busybox "$bb_key"; then
    local root=$KCACHE/src/busybox-root
    rm -rf "$root" && mkdir -p "$root/bin" "$root/tmp" "$root/etc"
    cp /bin/busybox "$root/bin/busybox"
    local a
    for a in $("$root/bin/busybox" --list); do [[ $a == busybox ]] || ln -sf busybox "$root/bin/$a"; done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    image_from_files busybox docker.io/library/busybox:1.36 '["/bin/sh"]' "$root:/"
    save_image busybox docker.io/library/busybox:1.36 "$bb_key"
  fi
  DITTO_IMAGE=docker.io/library/$(sed -n 's|^\s*image: \(ditto:[^ ]*\)$|\1|p' "$ROOT/deploy/kubernetes/node.yaml" | head -1)
  image_ditto "$DITTO_IMAGE"
}

import_images() {
  local f
  for f in "$KIMAGES"/*.tar; do
    ctr_k8s images import --no-unpack=false "$f" >/dev/null || die "ctr cannot import $f"
  done
  log "imported $(ls "$KIMAGES"/*.tar | wc -l) image archives into containerd"
}
