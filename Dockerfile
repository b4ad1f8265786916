# syntax=docker/dockerfile:1
# Build stage: native modules (better-sqlite3, pkcs11js) need a toolchain.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY protocols ./protocols
COPY profiles ./profiles
RUN npx tsc --noEmit -p . && npm prune --omit=dev --no-audit --no-fund && npm install --no-save --no-audit --no-fund tsx

# Run stage: no toolchain, non-root, data on a volume, SoftHSM2 available for PKCS#11.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends softhsm2 opensc ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data gateway \
 && mkdir -p /data && chown gateway:gateway /data
WORKDIR /app
COPY --from=build /app /app
COPY config.example.yaml /app/config.example.yaml
RUN printf '#!/bin/sh\nexec node --import tsx /app/src/cli/main.ts "$@"\n' > /usr/local/bin/gateway && chmod 0755 /usr/local/bin/gateway
USER gateway
ENV NODE_ENV=production SOFTHSM2_CONF=/data/softhsm/softhsm2.conf
VOLUME ["/data"]
EXPOSE 8443 8080
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "gateway"]
CMD ["serve", "--data-dir", "/data"]
