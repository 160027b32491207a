#!/usr/bin/env bash
# Builds a training-step image from docker/Dockerfile with buildah (no Docker engine needed), on a
# Debian 12 base made here with debootstrap, and prints its size.
#   docker/build_image.sh [cpu|gpu] [TAG]          (root; TAG defaults to localhost/trainrun:TARGET)
# The base's root filesystem is cached in $TRAINRUN_IMAGE_CACHE (default /var/cache/trainrun),
# outside any clone, so CI runs on one machine make it once. Storage driver: vfs, isolation:
# chroot (what works in a sandbox without overlay mounts or user namespaces; override with
# STORAGE_DRIVER / BUILDAH_ISOLATION). No layer cache: vfs copies the whole root filesystem for
# every cached step (tens of GB for this build); each stage is committed once instead, and
# the images of earlier builds are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-cpu}
tag=${2:-localhost/trainrun:$target}
case "$target" in cpu | gpu) ;; *) echo "build_image.sh: target must be cpu or gpu, not '$target'" >&2; exit 2 ;; esac
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
buildah() { command buildah --storage-driver "${STORAGE_DRIVER:-vfs}" "$@"; }
cache=${TRAINRUN_IMAGE_CACHE:-/var/cache/trainrun}
base=localhost/trainrun-base:bookworm

# The base: what debian:12-slim is (bookworm, minbase, with its updates and security sources).
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  if [ ! -s "$cache/bookworm-minbase.tar" ]; then
    echo "build_image.sh: making the Debian 12 base with debootstrap (once per machine)"
    rm -rf "$cache/rootfs" && mkdir -p "$cache"
    debootstrap --variant=minbase bookworm "$cache/rootfs" http://deb.debian.org/debian >/dev/null
    rm -f "$cache/rootfs/etc/apt/sources.list"
    cat >"$cache/rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$cache/rootfs/var/cache/apt/archives/"*.deb "$cache/rootfs/var/lib/apt/lists/"*
    tar -C "$cache/rootfs" -cf "$cache/bookworm-minbase.tar.tmp" .
    mv "$cache/bookworm-minbase.tar.tmp" "$cache/bookworm-minbase.tar"
    rm -rf "$cache/rootfs"
  fi
  ctx=$(mktemp -d)
  ln "$cache/bookworm-minbase.tar" "$ctx/rootfs.tar" 2>/dev/null || cp "$cache/bookworm-minbase.tar" "$ctx/rootfs.tar"
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' >"$ctx/Containerfile"
  buildah bud -q -t "$base" -f "$ctx/Containerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

# The host's CA bundle for pip inside the build (a TLS-intercepting proxy's CA, if any).
ca=()
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  ca=(--volume /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro
      --build-arg PIP_CA_BUNDLE=/run/host-ca.crt)
fi
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  revision+=-dirty
fi
version=$(sed -n 's/^project(trainrun VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
start=$(date +%s)
buildah bud --format docker --target "$target" -f docker/Dockerfile -t "$tag" \
  --build-arg BASE="$base" --build-arg GIT_REVISION="$revision" --build-arg VERSION="$version" \
  "${ca[@]}" .
buildah rmi --prune >/dev/null 2>&1 || true  # the build stages, and this tag's earlier image
size=$(buildah images --noheading --format '{{.Size}}' "$tag")
echo "build_image.sh: $tag built in $(($(date +%s) - start)) s, revision $revision, size $size"
