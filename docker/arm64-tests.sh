#!/usr/bin/env bash
# Runs test files of this checkout on linux/arm64 under qemu emulation: the arm64 Node (from the arm64
# Node image) with Debian's arm64 libraries and Mosquitto, the checkout mounted, its dependencies
# installed for arm64 (tsx needs esbuild's arm64 binary). Needs binfmt_misc qemu-aarch64 and an arm64 Node
# image (../shared/tools/container-env.sh --arm64 makes node:22-bookworm-slim-arm64).
#
#   docker/arm64-tests.sh                                   the end-to-end sign-in and MQTT tests
#   docker/arm64-tests.sh test/refresh.test.ts ...          other test files
#
# ARM64_NODE_IMAGE (default node:22-bookworm-slim-arm64) names the base; the test image is cached as
# kiosk-agent-arm64-tests and rebuilt only when package.json or package-lock.json change.
# Emulation makes Node several times slower: waits sized for native speed (an agent's first code within
# 15 s) can time out, which is a limit of the test, not a failure of the agent on arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${ARM64_NODE_IMAGE:-node:22-bookworm-slim-arm64}
image=kiosk-agent-arm64-tests
[ $# -gt 0 ] || set -- test/sign-in.test.ts test/mqtt-agent.test.ts

started=$(date +%s)
# The build context is package.json and package-lock.json only (.dockerignore keeps the rest out).
docker build -q -t "$image" --build-arg BASE="$base" -f - . >/dev/null <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto openssl >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
DOCKERFILE
built=$(date +%s)
echo "arm64-tests: test image ready in $((built - started)) s; running $*" >&2

# The checkout is mounted over /src; an anonymous volume keeps the image's arm64 node_modules in place.
set +e
docker run --rm -v "$PWD:/src" -v /src/node_modules -w /src "$image" \
  sh -c 'uname -m && node -p "process.arch + \" node \" + process.version" && exec node --import tsx --test --test-concurrency=1 "$@"' sh "$@"
rc=$?
echo "arm64-tests: exit $rc after $(($(date +%s) - built)) s of tests" >&2
exit $rc
