# syntax=docker/dockerfile:1
#
# eatr's container image: Node 24 LTS, the bundled dist/ (eatr and its production dependencies in one file,
# with their licenses) and package.json; no node_modules. Runs as uid 65532 and writes nothing to disk
# (read-only root filesystem). Node sizes its heap from the container's memory limit.
#
#   docker build -t eatr:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# There is no Docker engine in CI: test/integration/image.test.ts replays these steps (WORKDIR, COPY,
# RUN npm …) in temp folders and runs the result as uid 65532 from a read-only folder, so keep every step
# one it understands (it fails on anything else).

# Node 24 LTS on Debian 13 (trixie), exact version. Pin the digest too for reproducible builds:
#   docker buildx imagetools inspect node:24.21.0-trixie-slim
ARG NODE_IMAGE=node:24.21.0-trixie-slim

# ---- build: every dependency, type-check, bundle -> dist/ ---------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# npm ci also runs the "prepare" script (the same build); the explicit build below keeps the step visible.
RUN npm ci --no-audit --no-fund
RUN npm run build

# ---- runtime: dist (entry, bundle, source map, licenses) + package.json (read for --version) -----------
FROM ${NODE_IMAGE}
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=""
LABEL org.opencontainers.image.title="eatr" \
      org.opencontainers.image.description="Keeps AWS ECR image pull secrets fresh in every Kubernetes namespace that asks for them" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/${NODE_IMAGE}"
ENV NODE_ENV=production
# At most 2 malloc arenas (glibc's default is 8 per core): V8's and libuv's threads otherwise each keep an
# arena of their own, and the memory freed after startup stays spread over them (about 20 MiB of peak RSS
# at 1,000 namespaces; docs/bench.md, "Memory"). npm run bench runs the controller with this environment.
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /app/dist ./dist
COPY package.json ./
# The distroless "nonroot" uid/gid; matches the chart's runAsUser/runAsGroup. Files stay root-owned and
# read-only to it.
USER 65532:65532
EXPOSE 5000
# node is PID 1 and needs no init: eatr handles SIGTERM and SIGINT itself (stops intake, finishes in-flight
# work within -shutdown-grace-period, releases its Lease, exits 0) and starts no child processes to reap.
# The heap may use half of the container's memory limit (Node reads the limit from the cgroup): garbage is
# collected well before the kernel would kill the pod, and the other half covers Node itself (about 100 MiB)
# and network buffers. Under a small limit V8 would shrink the young generation to 1 MiB semi-spaces and
# spend a quarter of eatr's CPU collecting garbage; 4 MiB costs about 5 MiB of memory for ~10 % less CPU.
# npm run bench runs the controller with these flags under the chart's limit. dist/main.js is the entry: it
# checks the Node version (package.json engines), then loads the bundle, dist/eatr.js.
ENTRYPOINT ["node", "--max-old-space-size-percentage=50", "--max-semi-space-size=4", "/app/dist/main.js"]
