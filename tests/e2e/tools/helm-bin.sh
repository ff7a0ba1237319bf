#!/usr/bin/env bash
# Build helm for the e2e tests from the Go module proxy.
#
#   bash tests/e2e/tools/helm-bin.sh         (or: make helm-bin)
#
# Produces ${DRAFAST_CACHE:-$HOME/.cache/drafast}/helm-v<version>/bin/helm (and points
# ${...}/helm-current at helm-v<version>, which is where drafast.testing.bins.helm_binary looks
# first), built from the helm.sh/helm/v<major> Go module through a wrapper module that requires
# only helm (so every dependency is at the version helm's own go.mod selects), with helm's version
# variable set through -ldflags -X (so `helm version` reports v<version>, as a release build does).
#
# Idempotent: a complete dir (bin/.stamp, written last, and a helm that reports the version) is
# reused without touching the network or even needing go. Nothing is written inside the repository.
# The version is pinned in tools/versions.env. Environment knobs (each overrides its pin):
#   DRAFAST_CACHE      cache root                       (default $HOME/.cache/drafast)
#   HELM_VERSION       helm version to build (<major>.<minor>.<patch>)
set -euo pipefail

PROG=helm-bin
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../../tools/lib.sh source-path=SCRIPTDIR
source "$HERE/../../../tools/lib.sh"
load_versions "$VERSIONS_FILE"

CACHE="${DRAFAST_CACHE:-$HOME/.cache/drafast}"
go_build_env
semver_pin HELM_VERSION
V="$HELM_VERSION"
MOD="helm.sh/helm/v${V%%.*}"                    # the module path carries the major version
OUT="$CACHE/helm-v$V"
BIN="$OUT/bin"

# (Outputs are captured before matching: see the pipefail note in tools/lib.sh.)
helm_version() { "$BIN/helm" version --template '{{.Version}}' 2>/dev/null || true; }
helm_ok() { [ -x "$BIN/helm" ] && [ "$(helm_version)" = "v$V" ]; }

if [ -f "$BIN/.stamp" ] && helm_ok; then
  say "helm v$V already present in $BIN"
else
  command -v go >/dev/null || die "'go' not found in PATH"
  rm -f "$BIN/.stamp"
  W="$OUT/src-helm"
  mkdir -p "$W" "$BIN"
  say "helm v$V: wrapper module in $W for $MOD/cmd/helm"
  cd "$W"
  if [ ! -f .resolved ] || [ ! -f go.mod ]; then
    rm -f go.mod go.sum .resolved
    go mod init local/helmbin >/dev/null 2>&1 || die "go mod init failed in $W"
    info="$(go mod download -json "$MOD@v$V" 2>/dev/null)" ||
      die "$MOD v$V cannot be downloaded from the Go module proxy (GOPROXY=$(go env GOPROXY))"
    GOMOD="$(awk -F'"' '$2 == "GoMod" { print $4 }' <<<"$info")"
    [ -f "$GOMOD" ] || die "no go.mod for $MOD@v$V"
    hgo="$(awk '$1 == "go" && !v { v = $2 } END { print v }' "$GOMOD")"
    local_go="$(go env GOVERSION)"
    local_go="${local_go#go}"
    say "$MOD v$V wants go $hgo; local toolchain is go $local_go"
    version_ge "$local_go" "$hgo" ||
      die "Go $hgo or newer is needed to build helm v$V (have $local_go)"
    go mod edit -go="$hgo"
    say "resolving modules (go get -tool $MOD/cmd/helm@v$V; a few hundred modules on a cold cache)"
    if ! go get -tool "$MOD/cmd/helm@v$V"; then
      rm -f go.mod go.sum
      die "go get -tool $MOD/cmd/helm@v$V failed"
    fi
    touch .resolved
  fi
  LDF="-s -w -X $MOD/internal/version.version=v$V -X $MOD/internal/version.gitTreeState=clean"
  say "go build $MOD/cmd/helm (CGO_ENABLED=0, -trimpath, -s -w, v$V; 3-5 min cold on 2 cores)"
  start=$(date +%s)
  tmpout="$(mktemp -d "$OUT/build.XXXXXX")"
  if ! go build -trimpath -ldflags "$LDF" -o "$tmpout/helm" "$MOD/cmd/helm"; then
    rm -rf "$tmpout"
    die "go build of $MOD/cmd/helm v$V failed"
  fi
  mv -f "$tmpout/helm" "$BIN/helm"
  rm -rf "$tmpout"
  say "build took $(( $(date +%s) - start )) s"
  helm_ok || die "helm in $BIN reports '$(helm_version)', not v$V"
  # The stamp says what built the binary; written last, so it marks a complete dir.
  {
    echo "helm=v$V"
    echo "go=$(go env GOVERSION)"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$BIN/.stamp.tmp"
  mv -f "$BIN/.stamp.tmp" "$BIN/.stamp"
fi

# A stable name for the complete dir (made for caches from before it existed too); atomic rename.
ln -sfn "helm-v$V" "$CACHE/helm-current.tmp"
mv -T "$CACHE/helm-current.tmp" "$CACHE/helm-current"
say "done: $BIN/helm ($CACHE/helm-current)"
printf '    %-24s %s\n' helm "$(first_line "$("$BIN/helm" version 2>&1 || true)")"
