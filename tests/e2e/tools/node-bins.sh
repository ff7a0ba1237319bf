#!/usr/bin/env bash
# Fetch the pieces of a real test node (containerd, runc, CNI plugins, busybox) from Debian and
# build the offline pause/test images.
#
#   bash tests/e2e/tools/node-bins.sh           (or: make node-bins)
#
# Produces ${DRAFAST_CACHE:-$HOME/.cache/drafast}/node-bins/containerd-<v>_runc-<v>/ with
#   bin/containerd bin/containerd-shim-runc-v2 bin/ctr   Debian sid containerd 2.x (when sid has one
#                                                        that runs here), else trixie 1.7.x
#   bin/runc                                             bookworm runc (newer ones need glibc 2.38)
#   bin/busybox                                          bookworm busybox-static
#   cni/                                                 bookworm containernetworking-plugins
#   images/pause.tar images/testbox.tar                  OCI archives built by tools/oci_image.py
#   .stamp                                               versions; written last
# and points ${...}/node-bins/current at it. The .debs are fetched with apt-get download through
# private apt lists (the system's sources and state stay untouched) and unpacked with dpkg-deb -x:
# nothing is installed. Idempotent: a complete `current` whose images match tools/oci_image.py
# needs no network at all. Suites and version floors are pinned in tools/versions.env.
#
# Environment knobs (each overrides its pin in tools/versions.env):
#   DRAFAST_CACHE    cache root                                 (default $HOME/.cache/drafast)
#   NODE_CONTAINERD  auto (sid 2.x, else trixie 1.7) | sid | trixie     (pinned: auto)
#   PYTHON           python3 for the image builder              (default python3)
set -euo pipefail

PROG=node-bins
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
# shellcheck source=../../../tools/lib.sh source-path=SCRIPTDIR
source "$REPO/tools/lib.sh"
load_versions "$VERSIONS_FILE"

CACHE="${DRAFAST_CACHE:-$HOME/.cache/drafast}"
PYTHON="${PYTHON:-python3}"
ROOT="$CACHE/node-bins"
BASE="$NODE_BASE_SUITE"
IMAGES_PY="$REPO/tools/oci_image.py"

case "$NODE_CONTAINERD" in auto | sid | trixie) ;; *) die "NODE_CONTAINERD must be auto, sid or trixie (got '$NODE_CONTAINERD')" ;; esac
[ "$(uname -s)" = Linux ] || die "a test node needs Linux"
for tool in "$PYTHON" sha256sum; do command -v "$tool" >/dev/null || die "'$tool' not found in PATH"; done
[ -f "$IMAGES_PY" ] || die "image builder $IMAGES_PY is missing"
IMAGES_HASH="$(sha256sum "$IMAGES_PY")"
IMAGES_HASH="${IMAGES_HASH:0:16}"

# complete DIR -> true if every binary answers and the stamp is there
complete() {
  local d="$1" b
  [ -f "$d/.stamp" ] || return 1
  for b in containerd containerd-shim-runc-v2 ctr runc busybox; do [ -x "$d/bin/$b" ] || return 1; done
  [ -x "$d/cni/loopback" ] || return 1
  "$d/bin/containerd" --version >/dev/null 2>&1 && "$d/bin/runc" --version >/dev/null 2>&1 &&
    "$d/bin/busybox" true >/dev/null 2>&1
}

build_images() {  # DIR
  say "building the pause and test images (offline OCI archives) in $1/images"
  rm -rf "$1/images.tmp"
  "$PYTHON" "$IMAGES_PY" --busybox "$1/bin/busybox" --out "$1/images.tmp" || die "image build failed ($IMAGES_PY)"
  rm -rf "$1/images"
  mv "$1/images.tmp" "$1/images"
}

set_current() {  # DIR
  ln -sfn "$(basename "$1")" "$ROOT/current.tmp"
  mv -T "$ROOT/current.tmp" "$ROOT/current"
}

# --- fast path: nothing to fetch ----------------------------------------------------------------
if [ -L "$ROOT/current" ] && complete "$ROOT/current"; then
  cur="$(readlink -f "$ROOT/current")"
  suite="$(stamp_get "$cur/.stamp" suite)"
  if [ "$NODE_CONTAINERD" = auto ] || [ "$NODE_CONTAINERD" = "$suite" ]; then
    if [ "$(stamp_get "$cur/.stamp" images)" != "$IMAGES_HASH" ] || [ ! -f "$cur/images/pause.tar" ]; then
      build_images "$cur"
      sed -i "s/^images=.*/images=$IMAGES_HASH/" "$cur/.stamp"
    fi
    say "node binaries already present: $cur"
    sed 's/^/    /' "$cur/.stamp"
    exit 0
  fi
fi

# --- Debian packages through private apt lists ----------------------------------------------------
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  die "apt-get and dpkg-deb are needed to fetch containerd/runc/CNI/busybox (Debian or Ubuntu host)"
fi
URI="$(debian_mirror)"
[ -n "$URI" ] || die "cannot find the Debian mirror in /etc/apt/sources.list(.d): no apt source to fetch from"
apt_dir() { echo "$ROOT/apt/$1"; }   # SUITE -> its private apt state
update() { apt_update "$(apt_dir "$1")" "$URI" "$1"; }  # SUITE
candidate() { deb_field "$(apt_dir "$1")" "$2" Version; }  # SUITE PACKAGE -> version or nothing

# libc_ok SUITE PACKAGE -> the package's libc6 minimum is met by this host
LIBC="$(dpkg-query -W -f='${Version}' libc6 2>/dev/null || true)"
libc_ok() {
  local need
  need="$(dep_min "$(deb_field "$(apt_dir "$1")" "$2" Depends)" libc6)"
  [ -z "$need" ] && return 0
  [ -n "$LIBC" ] && dpkg --compare-versions "$LIBC" ge "$need"
}

pick_containerd() {  # prints "suite version"
  local s v up
  local order=()
  case "$NODE_CONTAINERD" in auto) order=(sid trixie) ;; *) order=("$NODE_CONTAINERD") ;; esac
  for s in "${order[@]}"; do
    if ! update "$s" >&2; then say "no $s lists (mirror unreachable?)" >&2; continue; fi
    v="$(candidate "$s" containerd)"
    if [ -z "$v" ]; then say "$s has no containerd package" >&2; continue; fi
    up="$(upstream "$v")"
    if [ "$s" = sid ] && ! dpkg --compare-versions "$up" ge "$CONTAINERD_SID_MIN"; then
      say "sid's containerd is $v (< $CONTAINERD_SID_MIN); skipping" >&2; continue
    fi
    if ! dpkg --compare-versions "$up" ge "$CONTAINERD_MIN"; then
      say "$s's containerd $v is older than $CONTAINERD_MIN" >&2; continue
    fi
    if ! libc_ok "$s" containerd; then
      say "$s's containerd $v needs a newer glibc than this host's $LIBC" >&2; continue
    fi
    echo "$s $v"
    return 0
  done
  return 1
}

say "choosing containerd (NODE_CONTAINERD=$NODE_CONTAINERD)"
choice="$(pick_containerd)" ||
  die "no usable containerd >= $CONTAINERD_MIN in Debian sid/trixie (need a reachable Debian mirror; see $ROOT/apt)"
read -r SUITE CVER <<<"$choice"
update "$BASE" || die "apt-get update for $BASE failed"
RVER="$(candidate "$BASE" runc)"
NVER="$(candidate "$BASE" containernetworking-plugins)"
BVER="$(candidate "$BASE" busybox-static)"
if [ -z "$RVER" ] || [ -z "$NVER" ] || [ -z "$BVER" ]; then
  die "$BASE lacks runc/containernetworking-plugins/busybox-static (got '$RVER' '$NVER' '$BVER')"
fi
say "containerd $CVER ($SUITE), runc $RVER, CNI plugins $NVER, busybox $BVER ($BASE)"

OUT="$ROOT/containerd-$(upstream "$CVER")_runc-$(upstream "$RVER")"
fetch() { deb_fetch "$(apt_dir "$1")" "$ROOT/debs/$1" "$2" "$3"; }  # SUITE PACKAGE VERSION -> .deb
CDEB="$(fetch "$SUITE" containerd "$CVER")" || die "download of containerd $CVER failed"
RDEB="$(fetch "$BASE" runc "$RVER")" || die "download of runc $RVER failed"
NDEB="$(fetch "$BASE" containernetworking-plugins "$NVER")" || die "download of CNI plugins $NVER failed"
BDEB="$(fetch "$BASE" busybox-static "$BVER")" || die "download of busybox-static $BVER failed"
say "unpacking into $OUT"
STAGE="$(mktemp -d "$ROOT/stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
for d in "$CDEB" "$RDEB" "$NDEB" "$BDEB"; do dpkg-deb -x "$d" "$STAGE/root"; done
mkdir -p "$STAGE/out/bin" "$STAGE/out/cni"
for b in containerd containerd-shim-runc-v2 ctr; do
  [ -x "$STAGE/root/usr/bin/$b" ] || die "the containerd package has no usr/bin/$b"
  install -m 0755 "$STAGE/root/usr/bin/$b" "$STAGE/out/bin/$b"
done
for b in runc busybox; do
  f="$STAGE/root/usr/sbin/$b"; [ -x "$f" ] || f="$STAGE/root/usr/bin/$b"; [ -x "$f" ] || f="$STAGE/root/bin/$b"
  [ -x "$f" ] || die "no $b binary in its package"
  install -m 0755 "$f" "$STAGE/out/bin/$b"
done
cp -a "$STAGE/root/usr/lib/cni/." "$STAGE/out/cni/"
[ -x "$STAGE/out/cni/loopback" ] || die "containernetworking-plugins has no loopback plugin"
"$STAGE/out/bin/containerd" --version >/dev/null || die "the unpacked containerd does not run on this host"
"$STAGE/out/bin/runc" --version >/dev/null || die "the unpacked runc does not run on this host"
"$STAGE/out/bin/busybox" true || die "the unpacked busybox does not run on this host"
build_images "$STAGE/out"
{
  echo "suite=$SUITE"
  echo "containerd=$CVER"
  echo "runc=$RVER"
  echo "cni=$NVER"
  echo "busybox=$BVER"
  echo "images=$IMAGES_HASH"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$STAGE/out/.stamp"
rm -rf "$OUT"
mv "$STAGE/out" "$OUT"
set_current "$OUT"
say "done: $OUT (current)"
"$OUT/bin/containerd" --version | sed 's/^/    /'
echo "    $(first_line "$("$OUT/bin/runc" --version)")"
sed 's/^/    /' "$OUT/.stamp"
