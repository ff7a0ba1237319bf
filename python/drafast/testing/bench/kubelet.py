"""Kubelet stand-ins that time DRA calls: the kubelet's own grpc-go client in a process of its
own (:class:`GoKubelet`, built from ``drafast/testing/kubeletload`` on first use), or drafast's
grpc.aio :class:`~drafast.kubelet.client.KubeletClient` in this process (:class:`PythonKubelet`,
when there is no ``go`` to build the first).

The kubelet is Go: it calls a plugin through grpc-go with the generated client of
``k8s.io/kubelet/pkg/apis/dra/v1``. ``kubeletload`` does the same from its own process, so a
benchmark measures the plugin and not a Python gRPC client taking CPU from it (~0.5 ms per call
on a 2-core machine). It times the calls itself; :class:`GoKubelet` only ships claims and answers
as JSON lines over its stdin/stdout, outside the timed span.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from drafast.kubelet.client import KubeletClient
from drafast.plugin.results import PrepareResult, UnprepareResult
from drafast.testing.bench.loop import BackgroundLoop
from drafast.types import ClaimRef

#: The Go sources, shipped in the wheel as package data.
SOURCE_DIR = Path(__file__).resolve().parents[1] / "kubeletload"
# The files the Makefile hashes into the binary's cache path; keep both lists equal.
SOURCES = ("go.mod", "go.sum", "main.go")

Op = Literal["prepare", "unprepare"]


class KubeletLoadError(RuntimeError):
    """The Go kubelet stand-in is missing, cannot be built, or failed."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One claim's answer (``devices`` and ``cdi_ids`` stay empty for an unprepare)."""

    error: str
    devices: int
    cdi_ids: tuple[str, ...]


Results = list[dict[str, Answer]]  # one map of claim UID -> answer per call


class Kubelet(Protocol):
    """What a benchmark drives: every group is one DRA call, all groups' calls at once; the
    answer is (seconds from the first call issued to the last answer, each call's answers)."""

    #: Which client this is, for the benchmark's extra_info.
    note: str

    def prepare(self, groups: Sequence[Sequence[ClaimRef]]) -> tuple[float, Results]: ...

    def unprepare(self, groups: Sequence[Sequence[ClaimRef]]) -> tuple[float, Results]: ...

    def close(self) -> None: ...


def cache_dir() -> Path:
    """``$DRAFAST_CACHE``, else ``~/.cache/drafast`` (where every build of the test kit goes)."""
    return Path(os.environ.get("DRAFAST_CACHE") or Path.home() / ".cache" / "drafast")


def kubeletload_path() -> Path:
    """``$DRAFAST_KUBELETLOAD`` (exported by drafast's Makefile), else
    ``<cache>/kubeletload-<12 hex of sha256(go.mod go.sum main.go)>/kubeletload``: changed
    sources get a fresh binary, unchanged ones reuse it."""
    if env := os.environ.get("DRAFAST_KUBELETLOAD"):
        return Path(env)
    digest = hashlib.sha256(b"".join((SOURCE_DIR / n).read_bytes() for n in SOURCES)).hexdigest()
    return cache_dir() / f"kubeletload-{digest[:12]}" / "kubeletload"


def build_kubeletload(path: Path | None = None) -> Path:
    """The kubeletload binary, built with ``go build`` (modules from the Go module proxy, no
    other toolchain downloaded) when it is not there yet; progress goes to stderr. Raises
    :class:`KubeletLoadError` when ``go`` is missing or the build fails."""
    path = path or kubeletload_path()
    if os.access(path, os.X_OK):
        return path
    go = shutil.which("go")
    if go is None:
        raise KubeletLoadError(
            f"the Go kubelet stand-in {path} is not built and 'go' is not in PATH"
        )
    print(
        f"drafast.testing: building the Go kubelet stand-in -> {path}", file=sys.stderr, flush=True
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    env = os.environ | {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    t0 = time.monotonic()
    out = subprocess.run(
        [go, "build", "-trimpath", "-mod=readonly", "-o", str(tmp), "."],
        cwd=SOURCE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise KubeletLoadError(f"go build of {SOURCE_DIR} failed:\n{out.stderr[-3000:]}")
    tmp.replace(path)
    print(
        f"drafast.testing: built {path} in {time.monotonic() - t0:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return path


class GoKubelet:
    """One ``kubeletload`` process: a single gRPC connection to ``dra_socket`` for its life."""

    note = "grpc-go (kubelet's DRA client)"

    def __init__(self, dra_socket: Path, binary: Path | None = None) -> None:
        path = binary or kubeletload_path()
        if not os.access(path, os.X_OK):
            raise KubeletLoadError(
                f"the Go kubelet stand-in is not built ({path} is missing): run `make kubelet-load`"
                " or drafast.testing.bench.build_kubeletload()"
            )
        # stderr is inherited: if the client dies, its reason lands in pytest's captured output.
        self._proc = subprocess.Popen(
            [str(path), "-socket", str(dra_socket)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def prepare(self, groups: Sequence[Sequence[ClaimRef]]) -> tuple[float, Results]:
        """One NodePrepareResources call per group, all at once; (seconds, answers per call)."""
        return self._request("prepare", groups)

    def unprepare(self, groups: Sequence[Sequence[ClaimRef]]) -> tuple[float, Results]:
        return self._request("unprepare", groups)

    def _request(self, op: Op, groups: Sequence[Sequence[ClaimRef]]) -> tuple[float, Results]:
        assert self._proc.stdin and self._proc.stdout
        calls = [
            [{"namespace": r.namespace, "name": r.name, "uid": r.uid} for r in g] for g in groups
        ]
        self._proc.stdin.write(json.dumps({"op": op, "calls": calls}).encode() + b"\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise KubeletLoadError(
                f"kubeletload exited with {self._proc.wait()} (its stderr is above)"
            )
        resp: dict[str, Any] = json.loads(line)
        failed = [f"call {i}: {e}" for i, e in enumerate(resp["call_error"]) if e]
        if failed:
            raise KubeletLoadError(f"{op} calls failed: " + "; ".join(failed))
        results = [
            {uid: Answer(a["error"], a["devices"], tuple(a["cdi_ids"])) for uid, a in call.items()}
            for call in resp["results"]
        ]
        return float(resp["seconds"]), results

    def close(self) -> None:
        """EOF on stdin ends the client; it must exit 0."""
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            code = self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise
        if self._proc.stdout:
            self._proc.stdout.close()
        if code != 0:
            raise KubeletLoadError(f"kubeletload exited with {code}")


class PythonKubelet:
    """drafast's grpc.aio kubelet client on ``loop``, registered through ``registration_socket``
    (timed here; its ~0.5 ms of CPU per call competes with the plugin for the machine's cores)."""

    note = "grpc.aio in this process"

    def __init__(self, registration_socket: Path, loop: BackgroundLoop, note: str = "") -> None:
        self.loop = loop
        self.client = KubeletClient(registration_socket=registration_socket)
        self.dra_socket = loop.run_until_complete(self.client.register()).endpoint
        if note:
            self.note = f"{self.note} ({note})"

    def prepare(self, groups: Sequence[Sequence[ClaimRef]]) -> tuple[float, Results]:
        return self._call("prepare", groups)

    def unprepare(self, groups: Sequence[Sequence[ClaimRef]]) -> tuple[float, Results]:
        return self._call("unprepare", groups)

    def _call(self, op: Op, groups: Sequence[Sequence[ClaimRef]]) -> tuple[float, Results]:
        fn = self.client.prepare if op == "prepare" else self.client.unprepare

        async def all_at_once() -> tuple[float, list[Any]]:
            t0 = time.perf_counter()
            outs = await asyncio.gather(*(fn(list(g)) for g in groups))
            return time.perf_counter() - t0, list(outs)

        seconds, outs = self.loop.run_until_complete(all_at_once())
        return seconds, [{uid: _answer(r) for uid, r in out.items()} for out in outs]

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())


def _answer(r: PrepareResult | UnprepareResult) -> Answer:
    if isinstance(r, UnprepareResult):
        return Answer(r.error, 0, ())
    return Answer(r.error, len(r.devices), tuple(i for d in r.devices for i in d.cdi_device_ids))


Client = Literal["go", "python", "auto"]


def open_kubelet(
    client: Client, dra_socket: Path, registration_socket: Path, loop: BackgroundLoop
) -> Kubelet:
    """The kubelet stand-in ``client`` names. ``auto``: the Go one (built on first use) when
    ``go`` can build it, else the Python one, whose ``note`` then says why."""
    if client == "python":
        return PythonKubelet(registration_socket, loop)
    if client == "go":
        return GoKubelet(dra_socket, build_kubeletload())
    try:
        binary = build_kubeletload()
    except KubeletLoadError as err:
        first = str(err).splitlines()[0]
        print(f"drafast.testing: {first}; using the Python client", file=sys.stderr, flush=True)
        return PythonKubelet(registration_socket, loop, note=f"no Go client: {first}")
    return GoKubelet(dra_socket, binary)
