# kiosk-agent: multi-arch image (linux/amd64, linux/arm64, linux/arm/v7).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && rm -rf dist/idp dist/demo.js

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    KIOSK_CACHE_PATH=/data/token-cache.json
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
RUN ln -s /app/dist/main.js /usr/local/bin/kiosk-agent && chmod +x /app/dist/main.js \
    && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["node", "/app/dist/main.js", "health"]
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["run"]
