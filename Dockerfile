# syntax=docker/dockerfile:1
# Build stage: native modules (better-sqlite3, pkcs11js) need a toolchain; TypeScript compiles to dist/, then the
# development packages (TypeScript, tsx, vitest) are pruned.
FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY protocols ./protocols
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run stage: compiled JavaScript on plain node, no toolchain, non-root, data on a volume, SoftHSM2 for PKCS#11.
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends softhsm2 opensc ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data gateway \
 && mkdir -p /data && chown gateway:gateway /data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY profiles ./profiles
COPY config.example.yaml ./config.example.yaml
RUN printf '#!/bin/sh\nexec node /app/dist/src/cli/main.js "$@"\n' > /usr/local/bin/gateway && chmod 0755 /usr/local/bin/gateway
USER gateway
ENV NODE_ENV=production SOFTHSM2_CONF=/data/softhsm/softhsm2.conf
VOLUME ["/data"]
EXPOSE 8443 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini reaps and passes SIGTERM (docker stop) to node, which drains requests and exits 0.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=4", "/app/dist/src/cli/main.js"]
CMD ["serve", "--data-dir", "/data"]
