"""The Go kubelet stand-in (``benches/kubeletload``) driven from Python.

The kubelet is Go: it calls a plugin through grpc-go with the generated client of
``k8s.io/kubelet/pkg/apis/dra/v1``. ``kubeletload`` does the same from its own process, so a
benchmark measures the plugin and not a Python gRPC client taking CPU from it (~0.5 ms per call
on a 2-core machine). It times the calls itself; :class:`GoKubelet` only ships claims and answers
as JSON lines over its stdin/stdout, outside the timed span.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drafast.types import ClaimRef

SOURCE_DIR = Path(__file__).resolve().parent / "kubeletload"
# The files the Makefile hashes into the binary's cache path; keep both lists equal.
SOURCES = ("go.mod", "go.sum", "main.go")


def binary_path() -> Path:
    """``$DRAFAST_KUBELETLOAD`` (exported by the Makefile), else where ``make kubelet-load``
    builds it: ``<cache>/kubeletload-<12 hex of sha256(go.mod go.sum main.go)>/kubeletload``."""
    if env := os.environ.get("DRAFAST_KUBELETLOAD"):
        return Path(env)
    digest = hashlib.sha256(b"".join((SOURCE_DIR / n).read_bytes() for n in SOURCES)).hexdigest()
    cache = Path(os.environ.get("DRAFAST_CACHE") or Path.home() / ".cache" / "drafast")
    return cache / f"kubeletload-{digest[:12]}" / "kubeletload"


class GoKubeletError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Answer:
    """One claim's answer (``devices`` and ``cdi_ids`` stay empty for an unprepare)."""

    error: str
    devices: int
    cdi_ids: tuple[str, ...]


Results = list[dict[str, Answer]]  # one map of claim UID -> answer per call


class GoKubelet:
    """One ``kubeletload`` process: a single gRPC connection to ``dra_socket`` for its life."""

    def __init__(self, dra_socket: Path, binary: Path | None = None) -> None:
        path = binary or binary_path()
        if not os.access(path, os.X_OK):
            raise GoKubeletError(
                f"the Go kubelet stand-in is not built ({path} is missing): run `make kubelet-load`"
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

    def _request(self, op: str, groups: Sequence[Sequence[ClaimRef]]) -> tuple[float, Results]:
        assert self._proc.stdin and self._proc.stdout
        calls = [
            [{"namespace": r.namespace, "name": r.name, "uid": r.uid} for r in g] for g in groups
        ]
        self._proc.stdin.write(json.dumps({"op": op, "calls": calls}).encode() + b"\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise GoKubeletError(
                f"kubeletload exited with {self._proc.wait()} (its stderr is above)"
            )
        resp: dict[str, Any] = json.loads(line)
        failed = [f"call {i}: {e}" for i, e in enumerate(resp["call_error"]) if e]
        if failed:
            raise GoKubeletError(f"{op} calls failed: " + "; ".join(failed))
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
            raise GoKubeletError(f"kubeletload exited with {code}")
