#!/usr/bin/env bash
# Build the drafast container image offline and reproducibly: an OCI image archive that
# `ctr -n k8s.io images import`, skopeo or crane take (no Docker, no registry).
#
#   bash tools/image.sh [--wheel WHEEL] [--out ARCHIVE]     (or: make image, which builds the wheel)
#
#   1. a minimal root filesystem from Debian (IMAGE_DEB_SUITE in tools/versions.env) .debs,
#      fetched with apt-get download through private apt lists and unpacked with dpkg-deb -x
#      (nothing is installed on this host): python3.11 and the shared libraries it and the wheels'
#      extension modules need, the CA bundle; merged /usr;
#   2. the drafast wheel and its dependencies -- the runtime pins of requirements-dev.txt plus
#      deploy/image/constraints.txt for the rest -- installed with pip --target for the image's
#      platform (manylinux wheels only: nothing is compiled on this host);
#   3. /usr/local/bin/drafast (the entrypoint), user 0:0, OCI labels with a fixed created time;
#   4. when run as root, the proof the tree is complete: its own python3.11, chrooted into it,
#      imports drafast._native, grpc, uvloop, orjson, yaml, ... and `drafast --version` answers;
#      and no shared object in the tree has an unresolved library;
#   5. bytecode: checked-hash .pyc for the stdlib and the site dir (no mtimes: still reproducible),
#      compiled by the image's python3.11 through chroot when root, else by a host python3.11;
#   6. tools/build_image.py writes the archive (default dist/drafast-image.tar) named
#      docker.io/library/drafast:<Cargo.toml version>, and its digest and size are printed.
#
# Reproducible: sorted entries, every timestamp SOURCE_DATE_EPOCH (default 0), so the same .debs,
# wheels and sources give the same digest. The .debs, the apt lists and the wheels are cached
# under ${DRAFAST_CACHE:-$HOME/.cache/drafast}/image-debs/, keyed by version; a warm build needs
# no network. The apt lists are fetched once and kept (the .deb versions stay put): set
# IMAGE_APT_REFRESH=1 to fetch them again (new Debian point release -> new .debs -> new digest).
set -euo pipefail
umask 022

PROG=image
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$REPO/tools/lib.sh"
load_versions "$VERSIONS_FILE"

CACHE="${DRAFAST_CACHE:-$HOME/.cache/drafast}"
ROOT="$CACHE/image-debs"
PYTHON="${PYTHON:-python3}"
PIP="${PIP:-$REPO/.venv/bin/pip}"
SUITE="$IMAGE_DEB_SUITE"
PYV="$IMAGE_PYTHON"
EPOCH="${SOURCE_DATE_EPOCH:-0}"
CONSTRAINTS="$REPO/deploy/image/constraints.txt"
WHEEL=""
OUT="$REPO/dist/drafast-image.tar"

while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) WHEEL="${2:?--wheel needs a path}"; shift 2 ;;
    --out) OUT="${2:?--out needs a path}"; shift 2 ;;
    *) die "unknown argument '$1' (usage: image.sh [--wheel WHEEL] [--out ARCHIVE])" ;;
  esac
done

[ "$(uname -s)" = Linux ] || die "the image is built on Linux"
[[ $EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be a number of seconds (got '$EPOCH')"
for tool in apt-get dpkg-deb "$PYTHON"; do command -v "$tool" >/dev/null || die "'$tool' not found in PATH"; done
[ -x "$PIP" ] || PIP="$(command -v pip3 || true)"
[ -n "$PIP" ] || die "no pip: run make setup (or set PIP=)"
[ -f "$CONSTRAINTS" ] || die "constraints file $CONSTRAINTS is missing"

VERSION="$(awk -F'"' '/^\[workspace.package\]/ { s = 1 } s && /^version *=/ && v == "" { v = $2 } END { print v }' "$REPO/Cargo.toml")"
[ -n "$VERSION" ] || die "no [workspace.package] version in Cargo.toml"
REF="docker.io/library/drafast:$VERSION"
if [ -z "$WHEEL" ]; then
  for w in "$REPO"/dist/drafast-"$VERSION"-cp3*-abi3-manylinux*.whl; do [ -f "$w" ] && WHEEL="$w"; done
  [ -n "$WHEEL" ] || die "no dist/drafast-$VERSION-*-abi3-manylinux*.whl: run make wheel (or pass --wheel)"
fi
[ -f "$WHEEL" ] || die "wheel $WHEEL does not exist"

# --- the runtime pins ------------------------------------------------------------------------------
RUNTIME=(grpcio protobuf uvloop orjson aiohttp kubernetes pyyaml prometheus-client)
PINS=()
for name in "${RUNTIME[@]}"; do
  pin=""
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ ${line,,} =~ ^${name}==([^[:space:]#]+) ]]; then pin="$name==${BASH_REMATCH[1]}"; fi
  done <"$REPO/requirements-dev.txt"
  [ -n "$pin" ] || die "requirements-dev.txt has no $name==<version> pin"
  PINS+=("$pin")
done

# --- Debian packages -------------------------------------------------------------------------------
DEBS=(
  libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libffi8 libexpat1 libbz2-1.0 liblzma5 libuuid1
  libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libcrypt1 libdb5.3
  libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1
  libcom-err2 media-types tzdata ca-certificates
  "python$PYV-minimal" "libpython$PYV-minimal" "libpython$PYV-stdlib"
)
APT="$ROOT/apt/$SUITE"
if [ -n "${IMAGE_APT_REFRESH:-}" ] || [ ! -f "$APT/sources.list" ] || [ -z "$(aptx "$APT" apt-cache policy "python$PYV-minimal" 2>/dev/null)" ]; then
  URI="$(debian_mirror)"
  [ -n "$URI" ] || die "cannot find the Debian mirror in /etc/apt/sources.list(.d): no apt source to fetch from"
  rm -rf "$APT/lists"
  apt_update "$APT" "$URI" "$SUITE" || die "apt-get update of $SUITE (mirror $URI) failed"
fi
# every candidate version in one apt-cache call (one call per package costs ~1 s each)
shown="$(aptx "$APT" apt-cache show --no-all-versions "${DEBS[@]}" 2>/dev/null)" ||
  die "apt-cache show of the image's packages failed: one of ${DEBS[*]} is unknown to $SUITE (stale lists? IMAGE_APT_REFRESH=1)"
declare -A DEBVER=() DEBFILE=()
while read -r p v; do DEBVER[$p]="$v"; done < <(awk '$1 == "Package:" { p = $2 } $1 == "Version:" { print p, $2 }' <<<"$shown")
PKGLIST=""
for p in "${DEBS[@]}"; do
  v="${DEBVER[$p]:-}"
  [ -n "$v" ] || die "$SUITE has no package $p (stale lists? IMAGE_APT_REFRESH=1)"
  DEBFILE[$p]="$(deb_fetch "$APT" "$ROOT/debs/$SUITE" "$p" "$v")" || die "download of $p $v failed"
  PKGLIST+="$p $v"$'\n'
done
say "Debian $SUITE: ${#DEBS[@]} packages (python$PYV-minimal ${DEBVER[python$PYV-minimal]})"

# --- the root filesystem ---------------------------------------------------------------------------
mkdir -p "$ROOT"
STAGE="$(mktemp -d "$ROOT/build.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
RFS="$STAGE/rootfs"
mkdir -p "$RFS"
say "unpacking into a fresh root filesystem ($RFS)"
for p in "${DEBS[@]}"; do dpkg-deb -x "${DEBFILE[$p]}" "$RFS" || die "dpkg-deb -x of $p failed"; done
# merged /usr, as a Debian bookworm system has it
for d in bin sbin lib lib64; do
  if [ -d "$RFS/$d" ] && [ ! -L "$RFS/$d" ]; then
    mkdir -p "$RFS/usr/$d"
    cp -a "$RFS/$d/." "$RFS/usr/$d/" || die "merging /$d into /usr/$d failed"
    rm -rf "${RFS:?}/$d"
  fi
  mkdir -p "$RFS/usr/$d"
  ln -s "usr/$d" "$RFS/$d"
done
# what a container does not need: docs (the copyright files stay), manuals, lintian overrides
find "$RFS/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$RFS/usr/share/doc" -depth -mindepth 1 -type d -empty -delete
rm -rf "$RFS/usr/share/man" "$RFS/usr/share/info" "$RFS/usr/share/lintian" "$RFS/usr/share/locale"
# the CA bundle update-ca-certificates would write: every Mozilla certificate, sorted
mkdir -p "$RFS/etc/ssl/certs"
: >"$RFS/etc/ssl/certs/ca-certificates.crt"
for c in "$RFS"/usr/share/ca-certificates/mozilla/*.crt; do cat "$c" >>"$RFS/etc/ssl/certs/ca-certificates.crt"; done
[ -s "$RFS/etc/ssl/certs/ca-certificates.crt" ] || die "ca-certificates has no certificates"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >"$RFS/etc/passwd"
printf 'root:x:0:\n' >"$RFS/etc/group"
printf 'hosts: files dns\n' >"$RFS/etc/nsswitch.conf"
mkdir -p "$RFS/root" "$RFS/proc" "$RFS/sys" "$RFS/dev" "$RFS/run" "$RFS/var/tmp" "$RFS/tmp"
chmod 1777 "$RFS/tmp" "$RFS/var/tmp"
ln -sfn "python$PYV" "$RFS/usr/bin/python3"
mkdir -p "$RFS/usr/share/drafast"
printf '%s' "$PKGLIST" >"$RFS/usr/share/drafast/debian-packages.txt"

# --- Python packages ---------------------------------------------------------------------------------
PLAT=(--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64
  --platform "manylinux_2_17_x86_64" --python-version "$PYV" --implementation cp --abi "cp${PYV/./}" --abi abi3 --abi none
  --only-binary=:all:)
KEY="$(printf '%s\n' "${PINS[@]}" "$(<"$CONSTRAINTS")" "${PLAT[*]}" | sha256sum)"
WHEELS="$ROOT/wheels/py$PYV-${KEY:0:16}"
if [ ! -f "$WHEELS/.complete" ]; then
  say "downloading the pinned wheels into $WHEELS"
  rm -rf "$WHEELS"
  "$PIP" download --quiet --disable-pip-version-check "${PLAT[@]}" -c "$CONSTRAINTS" -d "$WHEELS" "${PINS[@]}" ||
    die "pip download of the pinned wheels failed"
  touch "$WHEELS/.complete"
fi
SITE="$RFS/usr/lib/python3/dist-packages"
say "installing $(basename "$WHEEL") and ${#PINS[@]} pinned dependencies into /usr/lib/python3/dist-packages"
"$PIP" install --quiet --disable-pip-version-check --no-index --find-links "$WHEELS" "${PLAT[@]}" --no-compile \
  --target "$SITE" -c "$CONSTRAINTS" "$WHEEL" "${PINS[@]}" || die "pip install --target into the root filesystem failed"
rm -rf "$SITE/bin"  # console scripts with this host's python in their shebang
# direct_url.json names the wheel's path on this host and its hash: gone, and from the RECORDs
find "$SITE" -name direct_url.json -path '*.dist-info/*' -delete
sed -i '/^[^,]*\.dist-info\/direct_url\.json,/d' "$SITE"/*.dist-info/RECORD
find "$RFS" -depth -name __pycache__ -type d -exec rm -rf {} +
# every installed distribution is pinned (else the image would change under the same inputs)
for meta in "$SITE"/*.dist-info/METADATA; do
  name="$(awk -F': ' '$1 == "Name" && n == "" { n = $2 } END { print n }' "$meta")"
  norm="${name,,}"; norm="${norm//_/-}"; norm="${norm//./-}"
  [ "$norm" = drafast ] && continue
  pinned=""
  for x in "${PINS[@]}"; do [ "${x%%==*}" = "$norm" ] && pinned=1; done
  while IFS= read -r line || [ -n "$line" ]; do
    l="${line,,}"; l="${l//_/-}"; l="${l//./-}"
    [[ $l == "$norm=="* ]] && pinned=1
  done <"$CONSTRAINTS"
  [ -n "$pinned" ] || die "installed distribution $name is not pinned: add it to deploy/image/constraints.txt"
done

mkdir -p "$RFS/usr/local/bin"
cat >"$RFS/usr/local/bin/drafast" <<EOF
#!/usr/bin/python$PYV
import sys

from drafast.app.cli import main

sys.exit(main())
EOF
chmod 0755 "$RFS/usr/local/bin/drafast"

# --- the proof: the tree runs on its own ---------------------------------------------------------
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
  say "checking the root filesystem: every shared object resolves, and its python runs drafast (chroot)"
  missing=""
  while IFS= read -r -d '' so; do
    rel="/${so#"$RFS"/}"
    out="$(chroot "$RFS" /usr/lib64/ld-linux-x86-64.so.2 --list "$rel" 2>&1)" || true
    if [[ $out == *"not found"* ]]; then missing+="$rel: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"$'\n'; fi
  done < <(find "$RFS/usr/lib/python$PYV/lib-dynload" "$SITE" "$RFS/usr/bin" -type f \( -name '*.so' -o -name '*.so.*' -o -path '*/usr/bin/*' \) -print0)
  [ -z "$missing" ] || die "unresolved shared libraries in the root filesystem: ${missing//$'\n'/; }"
  check="import drafast._native, grpc, uvloop, orjson, yaml, aiohttp, kubernetes, prometheus_client"
  check+=", google.protobuf, ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, readline, curses; print('ok')"
  out="$(chroot "$RFS" /usr/bin/python"$PYV" -c "$check" 2>&1)" || die "the image's python cannot import its modules: $out"
  [ "$out" = ok ] || die "the import check printed '$out', not ok"
  out="$(chroot "$RFS" /usr/local/bin/drafast --version 2>&1)" || die "drafast --version in the root filesystem failed: $out"
  say "root filesystem ok: $out"
  find "$RFS" -depth -name __pycache__ -type d -exec rm -rf {} +
else
  say "not root: skipping the chroot check of the root filesystem"
fi

# --- bytecode -------------------------------------------------------------------------------------
# The image ships compiled bytecode. Debian's python3.11 .debs carry no .pyc (their postinst
# compiles the stdlib, and postinst never runs here) and pip ran with --no-compile, so without this
# every start of a drafast container compiles the stdlib, drafast and its dependencies from source,
# on a read-only root filesystem that cannot even keep the result: in every pod, on every restart
# (measured in the chroot, read-only root: `drafast --version` 0.58 s -> 0.17 s, the imports of a
# `drafast run file|cpu` node process's start 0.85 s -> 0.27 s; the archive grows by 8.4 MB).
# checked-hash pycs are validated against their source's hash, not its mtime: no build time is
# embedded, so the image stays byte-identical. One process (-j 1; compileall sorts every
# directory), a fixed hash seed and -f (no stale pyc kept) give marshal the same input each build.
# Left as source: test directories, and the kubernetes client's generated API and model modules
# and its asyncio twin (1870 of its 1933 files, 49 MB of pyc, 6.3 MB more archive): drafast
# imports kubernetes only when its own kubeconfig fast path hands over to the official loader
# (exec or auth-provider users, merged kubeconfigs), and then only 36 of its modules (config,
# client's package, configuration, api_client, utils, ...), which are compiled. A module that
# does not compile stays source (a warning); drafast may not (checked below).
PYC_TAG="cpython-${PYV/./}"
# (-x is searched in the full path, the host's root filesystem dir too: anchored at /usr/lib/python3)
PYC_SKIP='/usr/lib/python3[.0-9]*/(.*/)?tests?/|/usr/lib/python3/dist-packages/kubernetes/(aio/|client/(api|models)/(?!__init__\.py$))'
PYC_ARGS=(-B -s -m compileall -q -f -j 1 -o 0 --invalidation-mode checked-hash -x "$PYC_SKIP")
pyc_rc=0
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
  say "compiling the stdlib and /usr/lib/python3/dist-packages to checked-hash .pyc (the image's python$PYV, chroot)"
  pyc_out="$(env -i LANG=C.UTF-8 PYTHONHASHSEED=0 "$(command -v chroot)" "$RFS" /usr/bin/python"$PYV" \
    "${PYC_ARGS[@]}" "/usr/lib/python$PYV" /usr/lib/python3/dist-packages 2>&1)" || pyc_rc=$?
elif [ "$("$PYTHON" -c 'import sys; print(sys.implementation.cache_tag)' 2>/dev/null)" = "$PYC_TAG" ]; then
  # same bytecode format; the bytes follow this host's python$PYV patch release, not the image's
  say "compiling the stdlib and /usr/lib/python3/dist-packages to checked-hash .pyc (this host's $PYTHON: not root)"
  pyc_out="$(env -u PYTHONPATH -u PYTHONHOME -u PYTHONSTARTUP PYTHONHASHSEED=0 "$PYTHON" "${PYC_ARGS[@]}" \
    -s "$RFS" -p / "$RFS/usr/lib/python$PYV" "$SITE" 2>&1)" || pyc_rc=$?
else
  die "cannot compile the image's bytecode: not root (no chroot into the image's python$PYV) and $PYTHON is not python$PYV (set PYTHON= to a python$PYV, or run as root)"
fi
[ "$pyc_rc" = 0 ] || say "warning: compileall left some modules as source (exit $pyc_rc): ${pyc_out//$'\n'/ }"
# compileall skips what it cannot read or compile without failing the rest: drafast (and the
# stdlib's asyncio, which every start imports) must have every pyc, checked-hash (flags 0b11)
out="$("$PYTHON" - "$PYC_TAG" "$SITE/drafast" "$RFS/usr/lib/python$PYV/asyncio" <<'EOF'
import sys
from pathlib import Path

tag, *roots = sys.argv[1:]
for root in map(Path, roots):
    for src in sorted(root.rglob("*.py")):
        pyc = src.parent / "__pycache__" / f"{src.stem}.{tag}.pyc"
        if not pyc.is_file() or int.from_bytes(pyc.read_bytes()[4:8], "little") != 0b11:
            print(src)
EOF
)" || die "checking the compiled bytecode failed: $out"
[ -z "$out" ] || die "no checked-hash pyc for: ${out//$'\n'/ }${pyc_out:+ (compileall: ${pyc_out//$'\n'/ })}"

say "writing the OCI image archive $OUT"
"$PYTHON" "$REPO/tools/build_image.py" --rootfs "$RFS" --ref "$REF" --version "$VERSION" \
  --out "$OUT" --created-epoch "$EPOCH" || die "writing the image archive failed (tools/build_image.py)"
say "done: $REF  (load: ctr -n k8s.io images import $OUT)"
