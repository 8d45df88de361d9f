# syntax=docker/dockerfile:1
# One image for every verb: `docker run seismo daemon ...`, `seismo analyzer ...`.
# Stage 1 (build) compiles TypeScript and better-sqlite3's native addon with the
# toolchain; stage 2 (runtime) carries only the compiled output and production
# dependencies, and runs as an unprivileged user.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Manifests first, so the dependency layer is cached across source edits.
COPY package.json package-lock.json ./
COPY agent-proto/package.json agent-proto/
COPY daemon/package.json daemon/
COPY analyzer/package.json analyzer/
COPY cli/package.json cli/
# --ignore-scripts: `prepare` would compile before the sources are here; the
# native addon is then built explicitly, from source.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.base.json tsconfig.json ./
COPY agent-proto/ agent-proto/
COPY daemon/ daemon/
COPY analyzer/ analyzer/
COPY cli/ cli/
RUN npx tsc -b \
 && npm prune --omit=dev --no-audit --no-fund \
 && find . -name '*.tsbuildinfo' -delete
# The runtime tree: compiled workspaces, the schema, production node_modules
# (the same script the test suite runs, so the layout is tested).
COPY scripts/assemble-runtime.sh scripts/
RUN sh scripts/assemble-runtime.sh /out

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
# `daemon` and `analyzer` serve /healthz, /readyz and /metrics here (counts only).
ENV SEISMO_HEALTH_PORT=9477
EXPOSE 9477
WORKDIR /opt/seismo
COPY --from=build /out/ ./
# The node image's unprivileged user (uid 1000). As a sidecar, the pod's
# runAsUser must be the app's uid: signalling and /proc access need the same user.
USER node
# For the long-running verbs; a one-off command (`seismo top`) ends before it matters.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "/* seismo-healthcheck: a discovering daemon leaves it alone */ fetch('http://127.0.0.1:' + process.env.SEISMO_HEALTH_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/seismo/cli/bin/seismo.js"]
CMD ["--help"]
