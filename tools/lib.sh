# shellcheck shell=bash
# Helpers shared by tests/e2e/tools/cluster-bins.sh and node-bins.sh. Source it after
# `set -euo pipefail` and after setting PROG (what error lines start with).
#
# Pipelines under pipefail: a pipeline fails when ANY member fails, and a producer still writing
# when its consumer quits early (head, an awk that exits at the first match, grep -q, sed with q)
# is killed by SIGPIPE, so such a pipeline fails at random, the more often the more the producer
# writes (apt-cache show into an exiting awk failed 12 runs in 40). So never feed a producer into
# a consumer that stops early: capture the producer's output in a variable and parse that, or let
# the consumer read everything (awk: remember the first match, do not exit). Reading a file or a
# here-string with an early exit is fine: there is no writer to kill.
# tests/unit/tools/test_shell_pipelines.py checks every script here and in tests/e2e/tools for
# such pipelines and runs these helpers against a noisy apt-cache.

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSIONS_FILE="$TOOLS_DIR/versions.env"

say() { printf '==> %s\n' "$*"; }
die() { printf '%s: ERROR: %s\n' "${PROG:-${0##*/}}" "$*" >&2; exit 1; }

# first_line TEXT -> TEXT up to its first newline
first_line() { printf '%s\n' "${1%%$'\n'*}"; }

# load_versions [FILE] -> sets every KEY=value of FILE (default tools/versions.env) as a shell
# variable, except those the environment already sets to something non-empty (the documented
# knobs, e.g. K8S_VERSION=1.<minor>.<patch>, keep overriding the pins).
load_versions() {
  local f="${1:-$VERSIONS_FILE}" line k n=0
  [ -f "$f" ] || die "pinned versions file $f is missing"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    case "$line" in '' | '#'*) continue ;; esac
    [[ $line =~ ^([A-Z][A-Z0-9_]*)=([A-Za-z0-9._:/+~-]*)$ ]] || die "$f:$n is not a KEY=value line: $line"
    k="${BASH_REMATCH[1]}"
    [ -n "${!k:-}" ] || printf -v "$k" '%s' "${BASH_REMATCH[2]}"
  done <"$f"
}

# version_ge A B -> true if A >= B (dotted numeric versions)
version_ge() {
  local sorted
  sorted="$(printf '%s\n%s\n' "$2" "$1" | sort -V)"  # captured whole: no early-exit consumer
  [ "${sorted%%$'\n'*}" = "$2" ]
}

# go_build_env [GOFLAGS...] -> exports the environment every Go build here uses: never download
# another Go toolchain (fail fast instead), static binaries, no VCS stamp, plus any extra GOFLAGS
go_build_env() {
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0 GOFLAGS="-buildvcs=false${1:+ $*}"
}

# semver_pin NAME -> dies unless the variable NAME (a pin of versions.env) is <major>.<minor>.<patch>
semver_pin() {
  local v="${!1:-}"
  [ -n "$v" ] || die "$1 is not set (tools/versions.env)"
  [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "$1 must be <major>.<minor>.<patch> (got '$v')"
}

# stamp_get FILE KEY -> the value of KEY=... in FILE (first one), or nothing
stamp_get() {
  [ -f "$1" ] || return 0
  awk -F= -v k="$2" '$1 == k && !found { print substr($0, length(k) + 2); found = 1 }' "$1"
}

# upstream DEBIAN-VERSION -> the upstream part: 1:1.35.0-4+deb12u1 -> 1.35.0, 2.1.9+ds1-5 -> 2.1.9
upstream() { local v="${1#*:}"; v="${v%%-*}"; v="${v%%~*}"; echo "${v%%+*}"; }

# --- Debian packages through private apt state ----------------------------------------------------
# Every APTDIR holds its own sources.list, lists/ and cache/: the system's sources and state stay
# untouched, and nothing is installed (the .debs are unpacked with dpkg-deb -x by the callers).

# debian_mirror -> the first Debian mirror URI in the system's apt sources, or nothing
debian_mirror() {
  local uri="" f=/etc/apt/sources.list.d/debian.sources
  [ -f "$f" ] && uri="$(awk '/^URIs:/ && u == "" { u = $2 } END { print u }' "$f")"
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    # `deb [options] URI suite...`: the first field that looks like a URI
    uri="$(awk '$1 == "deb" && u == "" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:/) { u = $i; break } }
                END { print u }' /etc/apt/sources.list)"
  fi
  printf '%s\n' "$uri"
}

# aptx APTDIR apt-get|apt-cache ARGS... -> the tool run on APTDIR's private state
aptx() {
  local a="$1" tool="$2"
  shift 2
  "$tool" -o "Dir::Etc::sourcelist=$a/sources.list" -o Dir::Etc::sourceparts=/nonexistent \
    -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o APT::Sandbox::User=root "$@"
}

declare -gA APT_UPDATED=()
# apt_update APTDIR MIRROR SUITE -> `apt-get update` of SUITE's main lists into APTDIR, once per run
apt_update() {
  local a="$1"
  [ -n "${APT_UPDATED[$a]:-}" ] && return 0
  mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
  echo "deb $2 $3 main" >"$a/sources.list"
  say "apt-get update ($3 lists, private to $a)"
  aptx "$a" apt-get -qq update || return 1
  APT_UPDATED[$a]=1
}

# deb_field APTDIR PACKAGE FIELD -> FIELD of the package's first stanza in `apt-cache show` (the
# candidate), or nothing (also when the package is unknown)
deb_field() {
  local out
  out="$(aptx "$1" apt-cache show "$2" 2>/dev/null)" || return 0
  awk -v k="$3:" 'NF == 0 { done = 1 } !done && $1 == k { sub(/^[^:]*: */, ""); print; done = 1 }' <<<"$out"
}

# dep_min DEPENDS PACKAGE -> the version in a "PACKAGE (>= version)" clause of DEPENDS, or nothing
dep_min() {
  local re="(^|[ ,|])$2 \\(>= ([^)]+)\\)"
  if [[ $1 =~ $re ]]; then printf '%s\n' "${BASH_REMATCH[2]}"; fi
}

# deb_have DEBDIR PACKAGE VERSION -> path of an already downloaded .deb of that version, or nothing
deb_have() {
  local x
  for x in "$1/$2_"*.deb; do
    [ -f "$x" ] && [ "$(dpkg-deb -f "$x" Version)" = "$3" ] && { echo "$x"; return 0; }
  done
  return 0
}

# deb_fetch APTDIR DEBDIR PACKAGE VERSION -> path of the .deb, downloaded into DEBDIR unless there
deb_fetch() {
  local a="$1" d="$2" p="$3" v="$4" f
  mkdir -p "$d"
  f="$(deb_have "$d" "$p" "$v")"
  if [ -z "$f" ]; then
    say "downloading $p $v" >&2
    (cd "$d" && aptx "$a" apt-get -qq download "$p=$v") >&2 || return 1
    f="$(deb_have "$d" "$p" "$v")"
  fi
  [ -n "$f" ] && echo "$f"
}
