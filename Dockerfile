# dittod and dittoctl on Debian 12.
#   docker build -t ditto:0.1.0 .
# The image runs privileged on every node (deploy/kubernetes/node.yaml): it
# needs the filesystem tools dittod runs through execve.

# ---- build: the packages of scripts/setup's build list ----
FROM debian:12 AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build ccache pkg-config git \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      libsqlite3-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev \
      libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev libssl-dev prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
# ccache keeps compiled objects between builds: in the builder's cache mount,
# or in the directory the build argument CCACHE_DIR names. scripts/kubernetes
# mounts the host's cache there and sets SRC_DIR to the checkout's own path:
# with the build type and build directory of scripts/setup, what the host
# compiled for this tree is reused.
ARG SRC_DIR=/src
ARG CCACHE_DIR=/root/.cache/ccache
WORKDIR $SRC_DIR
COPY . .
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_RUNTIME_OUTPUT_DIRECTORY=/out \
 && cmake --build build -j "$(nproc)" --target dittod dittoctl \
 && strip /out/dittod /out/dittoctl

# ---- runtime: the tools dittod execs and the shared libraries it links ----
FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      btrfs-progs xfsprogs e2fsprogs util-linux mount \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libsqlite3-0 libyaml-cpp0.7 \
      libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 libcpp-httplib0.11 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/dittod /out/dittoctl /usr/local/bin/
# Fail the build, not the pod, when a shared library is missing.
RUN for b in /usr/local/bin/dittod /usr/local/bin/dittoctl; do \
      if ldd "$b" | grep "not found"; then echo "$b: missing shared libraries" >&2; exit 1; fi; \
    done \
 && dittod --version
LABEL org.opencontainers.image.title="ditto" \
      org.opencontainers.image.description="CSI driver for node-local volumes with instant reflink clones"
ENTRYPOINT ["/usr/local/bin/dittod"]
