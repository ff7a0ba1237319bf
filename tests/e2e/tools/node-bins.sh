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
#   images/pause.tar images/testbox.tar                  OCI archives built by
#                                                        python/drafast/testing/images.py
#   .stamp                                               versions; written last
# and points ${...}/node-bins/current at it. The .debs are fetched with apt-get download through
# private apt lists (the system's sources and state stay untouched) and unpacked with dpkg-deb -x:
# nothing is installed. Idempotent: a complete `current` whose images match images.py needs no
# network at all.
#
# Environment knobs:
#   DRAFAST_CACHE    cache root                                 (default $HOME/.cache/drafast)
#   NODE_CONTAINERD  auto (sid 2.x, else trixie 1.7) | sid | trixie     (default auto)
#   PYTHON           python3 for the image builder              (default python3)
set -euo pipefail

CACHE="${DRAFAST_CACHE:-$HOME/.cache/drafast}"
NODE_CONTAINERD="${NODE_CONTAINERD:-auto}"
PYTHON="${PYTHON:-python3}"
ROOT="$CACHE/node-bins"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
IMAGES_PY="$REPO/python/drafast/testing/images.py"

say() { printf '==> %s\n' "$*"; }
die() { printf 'node-bins: ERROR: %s\n' "$*" >&2; exit 1; }

case "$NODE_CONTAINERD" in auto | sid | trixie) ;; *) die "NODE_CONTAINERD must be auto, sid or trixie (got '$NODE_CONTAINERD')" ;; esac
[ "$(uname -s)" = Linux ] || die "a test node needs Linux"
for tool in "$PYTHON" sha256sum; do command -v "$tool" >/dev/null || die "'$tool' not found in PATH"; done
[ -f "$IMAGES_PY" ] || die "image builder $IMAGES_PY is missing"
IMAGES_HASH="$(sha256sum "$IMAGES_PY" | cut -c1-16)"

stamp_get() { awk -F= -v k="$2" '$1==k{print substr($0, length(k)+2); exit}' "$1/.stamp" 2>/dev/null || true; }

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
  "$PYTHON" "$IMAGES_PY" --busybox "$1/bin/busybox" --out "$1/images.tmp" || die "image build failed"
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
  suite="$(stamp_get "$cur" suite)"
  if [ "$NODE_CONTAINERD" = auto ] || [ "$NODE_CONTAINERD" = "$suite" ]; then
    if [ "$(stamp_get "$cur" images)" != "$IMAGES_HASH" ] || [ ! -f "$cur/images/pause.tar" ]; then
      build_images "$cur"
      sed -i "s/^images=.*/images=$IMAGES_HASH/" "$cur/.stamp"
    fi
    say "node binaries already present: $cur"
    sed 's/^/    /' "$cur/.stamp"
    exit 0
  fi
fi

# --- apt with private lists ---------------------------------------------------------------------
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
  die "apt-get and dpkg-deb are needed to fetch containerd/runc/CNI/busybox (Debian or Ubuntu host)"
URI=""
src=/etc/apt/sources.list.d/debian.sources
[ -f "$src" ] && URI="$(awk '/^URIs:/{print $2; exit}' "$src")"
[ -n "$URI" ] || URI="$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
[ -n "$URI" ] || die "cannot find the Debian mirror in /etc/apt/sources.list(.d): no apt source to fetch from"

aptx() {  # SUITE apt-get|apt-cache ARGS...
  local s="$1" tool="$2"
  shift 2
  local a="$ROOT/apt/$s"
  "$tool" -o "Dir::Etc::sourcelist=$a/sources.list" -o Dir::Etc::sourceparts=/nonexistent \
    -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o APT::Sandbox::User=root "$@"
}
declare -A UPDATED=()
apt_update() {  # SUITE
  local s="$1" a="$ROOT/apt/$1"
  [ -n "${UPDATED[$s]:-}" ] && return 0
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
  echo "deb $URI $s main" >"$a/sources.list"
  say "apt-get update ($s lists, private to $a)"
  aptx "$s" apt-get -qq update || return 1
  UPDATED[$s]=1
}
candidate() {  # SUITE PACKAGE -> Debian version or nothing
  aptx "$1" apt-cache show "$2" 2>/dev/null | awk '/^Version:/{print $2; exit}'
}
depends() {  # SUITE PACKAGE
  aptx "$1" apt-cache show "$2" 2>/dev/null | awk '/^Depends:/{sub(/^Depends: /, ""); print; exit}'
}
upstream() { local v="${1#*:}"; v="${v%%-*}"; v="${v%%~*}"; echo "${v%%+*}"; }

# libc_ok SUITE PACKAGE -> the package's libc6 minimum is met by this host
LIBC="$(dpkg-query -W -f='${Version}' libc6 2>/dev/null || true)"
libc_ok() {
  local need
  need="$(depends "$1" "$2" | grep -oE 'libc6 \(>= [^)]+\)' | head -n1 | sed -E 's/libc6 \(>= ([^)]+)\)/\1/')"
  [ -z "$need" ] && return 0
  [ -n "$LIBC" ] && dpkg --compare-versions "$LIBC" ge "$need"
}

pick_containerd() {  # prints "suite version"
  local s v
  local order=()
  case "$NODE_CONTAINERD" in auto) order=(sid trixie) ;; *) order=("$NODE_CONTAINERD") ;; esac
  for s in "${order[@]}"; do
    if ! apt_update "$s" >&2; then say "no $s lists (mirror unreachable?)" >&2; continue; fi
    v="$(candidate "$s" containerd)"
    if [ -z "$v" ]; then say "$s has no containerd package" >&2; continue; fi
    local up; up="$(upstream "$v")"
    if [ "$s" = sid ] && ! dpkg --compare-versions "$up" ge 2.0; then
      say "sid's containerd is $v (< 2.0); skipping" >&2; continue
    fi
    if ! dpkg --compare-versions "$up" ge 1.7; then say "$s's containerd $v is older than 1.7" >&2; continue; fi
    if ! libc_ok "$s" containerd; then
      say "$s's containerd $v needs a newer glibc than this host's $LIBC" >&2; continue
    fi
    echo "$s $v"
    return 0
  done
  return 1
}

say "choosing containerd (NODE_CONTAINERD=$NODE_CONTAINERD)"
read -r SUITE CVER < <(pick_containerd) ||
  die "no usable containerd >= 1.7 in Debian sid/trixie (need a reachable Debian mirror; see $ROOT/apt)"
apt_update bookworm || die "apt-get update for bookworm failed"
RVER="$(candidate bookworm runc)"
NVER="$(candidate bookworm containernetworking-plugins)"
BVER="$(candidate bookworm busybox-static)"
[ -n "$RVER" ] && [ -n "$NVER" ] && [ -n "$BVER" ] ||
  die "bookworm lacks runc/containernetworking-plugins/busybox-static (got '$RVER' '$NVER' '$BVER')"
say "containerd $CVER ($SUITE), runc $RVER, CNI plugins $NVER, busybox $BVER (bookworm)"

OUT="$ROOT/containerd-$(upstream "$CVER")_runc-$(upstream "$RVER")"
DEBS="$ROOT/debs"
mkdir -p "$DEBS/$SUITE" "$DEBS/bookworm"
have_deb() {  # SUITE PACKAGE VERSION -> path of an already downloaded .deb, or nothing
  local x
  for x in "$DEBS/$1/$2_"*.deb; do
    [ -f "$x" ] && [ "$(dpkg-deb -f "$x" Version)" = "$3" ] && { echo "$x"; return 0; }
  done
  return 0
}
fetch() {  # SUITE PACKAGE VERSION -> path of the .deb
  local s="$1" p="$2" v="$3" f
  f="$(have_deb "$s" "$p" "$v")"
  if [ -z "$f" ]; then
    say "downloading $p $v ($s)" >&2
    (cd "$DEBS/$s" && aptx "$s" apt-get -qq download "$p=$v") >&2 || return 1
    f="$(have_deb "$s" "$p" "$v")"
  fi
  [ -n "$f" ] && echo "$f"
}
CDEB="$(fetch "$SUITE" containerd "$CVER")" || die "download of containerd $CVER failed"
RDEB="$(fetch bookworm runc "$RVER")" || die "download of runc $RVER failed"
NDEB="$(fetch bookworm containernetworking-plugins "$NVER")" || die "download of CNI plugins $NVER failed"
BDEB="$(fetch bookworm busybox-static "$BVER")" || die "download of busybox-static $BVER failed"

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
"$OUT/bin/runc" --version | head -n1 | sed 's/^/    /'
sed 's/^/    /' "$OUT/.stamp"
