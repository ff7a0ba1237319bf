#!/usr/bin/env bash
# Build the Go reference DRA kubelet plugin for the side-by-side benchmark from the Go module proxy.
#
#   bash tools/reference-driver.sh         (or: make reference-driver)
#
# Produces ${DRAFAST_CACHE:-$HOME/.cache/drafast}/refdriver-v<version>/bin/dra-example-kubeletplugin
# (and points ${...}/refdriver-current at refdriver-v<version>, where benches/sidebyside looks),
# built from the sigs.k8s.io/dra-example-driver module at the pinned version. The proxy does not
# list that version (so `go install pkg@version` is refused), but `go mod download` of the exact
# version works: the module is downloaded, copied out of the read-only module cache and built in
# place with its own go.mod and go.sum (every dependency at the version the driver itself pins).
#
# Idempotent: a complete dir (bin/.stamp, written last) is reused without touching the network or
# even needing go. Nothing is written inside the repository. The version is pinned in
# tools/versions.env. Environment knobs (each overrides its pin):
#   DRAFAST_CACHE        cache root                       (default $HOME/.cache/drafast)
#   REFDRIVER_VERSION    dra-example-driver version (<major>.<minor>.<patch>)
set -euo pipefail

PROG=reference-driver
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$HERE/lib.sh"
load_versions "$VERSIONS_FILE"

CACHE="${DRAFAST_CACHE:-$HOME/.cache/drafast}"
go_build_env -mod=mod
semver_pin REFDRIVER_VERSION
V="$REFDRIVER_VERSION"
MOD="sigs.k8s.io/dra-example-driver"
CMD="cmd/dra-example-kubeletplugin"
OUT="$CACHE/refdriver-v$V"
BIN="$OUT/bin"

if [ -f "$BIN/.stamp" ] && [ -x "$BIN/dra-example-kubeletplugin" ]; then
  say "dra-example-kubeletplugin v$V already present in $BIN"
else
  command -v go >/dev/null || die "'go' not found in PATH"
  rm -f "$BIN/.stamp"
  mkdir -p "$BIN"
  say "go mod download $MOD@v$V (GOPROXY=$(go env GOPROXY))"
  info="$(cd "$OUT" && go mod download -json "$MOD@v$V")" ||
    die "$MOD v$V cannot be downloaded from the Go module proxy"
  DIR="$(awk -F'"' '$2 == "Dir" { print $4 }' <<<"$info")"
  [ -f "$DIR/go.mod" ] || die "no module dir for $MOD@v$V (go mod download said: $info)"
  want_go="$(awk '$1 == "go" && !v { v = $2 } END { print v }' "$DIR/go.mod")"
  local_go="$(go env GOVERSION)"
  local_go="${local_go#go}"
  version_ge "$local_go" "$want_go" ||
    die "Go $want_go or newer is needed to build $MOD v$V (have $local_go)"
  SRC="$OUT/src"
  rm -rf "$SRC"
  cp -r "$DIR" "$SRC"
  chmod -R u+w "$SRC"
  say "go build $MOD/$CMD v$V (CGO_ENABLED=0, -trimpath; a few minutes cold on 2 cores)"
  start=$(date +%s)
  tmpout="$(mktemp -d "$OUT/build.XXXXXX")"
  if ! (cd "$SRC" && go build -trimpath -ldflags "-s -w" -o "$tmpout/dra-example-kubeletplugin" "./$CMD"); then
    rm -rf "$tmpout"
    die "go build of $MOD/$CMD v$V failed"
  fi
  mv -f "$tmpout/dra-example-kubeletplugin" "$BIN/dra-example-kubeletplugin"
  rm -rf "$tmpout" "$SRC"
  say "build took $(( $(date +%s) - start )) s"
  "$BIN/dra-example-kubeletplugin" --help >/dev/null 2>&1 ||
    die "$BIN/dra-example-kubeletplugin does not run"
  # The stamp says what built the binary; written last, so it marks a complete dir.
  {
    echo "module=$MOD@v$V"
    echo "go=$(go env GOVERSION)"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$BIN/.stamp.tmp"
  mv -f "$BIN/.stamp.tmp" "$BIN/.stamp"
fi

# A stable name for the complete dir; atomic rename.
ln -sfn "refdriver-v$V" "$CACHE/refdriver-current.tmp"
mv -T "$CACHE/refdriver-current.tmp" "$CACHE/refdriver-current"
say "done: $BIN/dra-example-kubeletplugin ($CACHE/refdriver-current)"
