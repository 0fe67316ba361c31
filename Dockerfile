# kiosk-agent container image: linux/amd64, linux/arm64 and linux/arm/v7 (see deploy/README.md; all three are
# built and run by test/container*.test.ts, arm64 and arm/v7 under qemu, arm/v7 on docker/armv7-base.sh's base).
#
#   docker build -t kiosk-agent .                  the agent (default target: runtime)
#   docker build --target idp -t kiosk-agent-idp . the local identity provider, for the compose demo profile
#
# NODE_IMAGE is the base of the images. Node 22 is the line with official images for all three
# architectures (Node 24 has no arm/v7 image). Builds on a machine without a multi-arch registry pass an
# architecture-specific tag, e.g. --build-arg NODE_IMAGE=node:22-bookworm-slim-arm64.
# BUILD_IMAGE runs npm and the build. Their output is plain JavaScript, the same on every architecture
# (prod-deps checks that no native addon slipped in), so a cross-architecture build passes the build
# machine's own Node image here (e.g. node:22-bookworm-slim on amd64) and nothing but the last few steps
# runs under emulation.
ARG NODE_IMAGE=node:22-bookworm-slim
ARG BUILD_IMAGE=${NODE_IMAGE}

# 1. Every dependency, for the TypeScript build. Install scripts are not needed and not run.
FROM ${BUILD_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# 2. Type-checked, then bundled: dist/main.js and its chunks hold the agent with all of its dependencies;
#    dist/idp/main.js is the local identity provider, which loads its packages from node_modules.
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
RUN npx tsc -p tsconfig.build.json \
 && npm run build \
 && mkdir -p /out/idp \
 && cp -a dist /out/agent && rm -rf /out/agent/idp \
 && cp -a dist/idp /out/idp/idp \
 && chmod 0755 /out/agent/main.js

# 3. Production dependencies only, exactly as locked (type declarations and source maps dropped: nothing
#    reads them at run time), for the idp; the agent's bundle needs none of them, only their licences.
FROM ${BUILD_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && if find node_modules -name '*.node' | grep -q .; then echo 'native addon in the production dependencies: the bundle cannot hold it' >&2; exit 1; fi \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete \
 && mkdir -p /licenses \
 && find node_modules -type f \( -iname 'licen[cs]e*' -o -iname 'copying*' -o -iname 'notice*' \) -exec cp --parents {} /licenses/ \;

# 4. The local identity provider (CONTRACT §6), never part of the production image. It runs the built
#    src/idp with the production dependencies plus node-forge (its certificate library, a devDependency,
#    which has no dependencies of its own), copied at the locked version from the build's node_modules.
FROM ${NODE_IMAGE} AS idp
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=deps /src/node_modules/node-forge ./node_modules/node-forge
COPY package.json ./
COPY --from=build /out/idp ./dist
RUN mkdir -p /idp && chown node:node /idp
USER node
VOLUME ["/idp"]
EXPOSE 8443 8444
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8444/').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/idp/main.js"]
CMD ["--host", "0.0.0.0", "--port", "8443", "--control-host", "0.0.0.0", "--control-port", "8444", "--dir", "/idp"]

# 5. The agent (default target): the bundle and the licences of what it holds, no node_modules. Code
#    belongs to root and is read-only to the agent, which runs as `node` (uid 1000) and writes only below
#    /data (token cache, provider metadata, status.json for the health check). Works with a read-only
#    root filesystem.
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
# KIOSK_TERMINAL=auto: no terminal display in `docker logs` beside a screen of the kiosk's own (CONTRACT §7).
ENV NODE_ENV=production \
    KIOSK_CACHE_PATH=/data/token-cache.json \
    KIOSK_WEB_HOST=0.0.0.0 \
    KIOSK_TERMINAL=auto
WORKDIR /app
COPY package.json ./
COPY --from=prod-deps /licenses ./licenses
COPY --from=build /out/agent ./dist
RUN ln -s /app/dist/main.js /usr/local/bin/kiosk-agent \
 && mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# SIGTERM (docker stop) makes the agent publish `stopped` and `offline`, flush its cache and exit 0
# within 5 s. Node runs as PID 1 and handles the signal itself; it starts no child processes.
STOPSIGNAL SIGTERM
# In a container running `kiosk-agent watch` instead, health says so and passes: watch keeps no status.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["kiosk-agent", "health"]
ENTRYPOINT ["kiosk-agent"]
CMD ["run"]
LABEL org.opencontainers.image.title="kiosk-agent" \
      org.opencontainers.image.description="Boot-time device-code sign-in agent for headless kiosks: shows the code and QR, keeps the device signed in, reports over MQTT." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
