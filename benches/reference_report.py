"""The side-by-side table (benches/test_reference_driver.py's bench-results/reference.json):
drafast, the Go reference, their ratio, the issue's target for it and whether it is met.

    python benches/reference_report.py bench-results/reference.json
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Block = dict[str, Any]


def _p50(key: str) -> Callable[[Block], float]:
    return lambda b: statistics.median(b[key]) * 1e3


def _p99(key: str) -> Callable[[Block], float]:
    def p99(b: Block) -> float:
        s = sorted(b[key])
        return s[min(len(s) - 1, round(0.99 * (len(s) - 1)))] * 1e3

    return p99


RATIO_1 = ("ratio", 1.0)
Cells = tuple[float, float, float, str, str]
# (row, unit, value of one block, target: max ratio drafast/Go, max absolute ms for drafast,
# or none: shown for information)
ROWS: list[tuple[str, str, Callable[[Block], float], tuple[str, float]]] = [
    ("prepare 1 claim p50", "ms", _p50("prepare_s"), ("ratio", 0.8)),
    ("prepare 1 claim p99", "ms", _p99("prepare_s"), ("ratio", 1.0)),
    ("unprepare 1 claim p50", "ms", _p50("unprepare_s"), ("ratio", 0.8)),
    ("64 concurrent 1-claim calls, wall p50", "ms", _p50("concurrent64_s"), ("ratio", 0.5)),
    ("64 claims in one call p50", "ms", _p50("onecall64_s"), ("ratio", 0.3)),
    (
        "plugin CPU per prepare + unprepare",
        "ms",
        lambda b: b["cpu_per_cycle_s"] * 1e3,
        ("ratio", 1.0),
    ),
    ("plugin RSS 2 s after the run", "MiB", lambda b: b["rss_kib"] / 1024, ("ratio", 1.2)),
    (
        "plugin RSS at the last answer",
        "MiB",
        lambda b: b.get("rss_at_end_kib", b["rss_kib"]) / 1024,
        ("none", 0.0),
    ),
    ("process start -> GetInfo answered p50", "ms", _p50("ready_s"), ("abs", 120.0)),
    (
        "API server CPU per prepare of 1 claim (its GET)",
        "ms",
        lambda b: b.get("apiserver_cpu_per_prepare_s", float("nan")) * 1e3,
        ("none", 0.0),
    ),
    (
        "API server CPU per 64 concurrent calls (64 GETs)",
        "ms",
        lambda b: b.get("apiserver_cpu_per_concurrent64_s", float("nan")) * 1e3,
        ("none", 0.0),
    ),
]


def _merged(passes: list[dict[str, Block]], who: str) -> Block:
    """Every pass's samples together (sums of lists; CPU and RSS: the mean over passes)."""
    blocks = [p[who] for p in passes]
    out: Block = {}
    for key, value in blocks[0].items():
        if isinstance(value, list):
            out[key] = [x for b in blocks for x in b[key]]
        elif isinstance(value, int | float):
            out[key] = statistics.fmean(b[key] for b in blocks)
    return out


def _cells(
    d: Block, g: Block, value: Callable[[Block], float], target: tuple[str, float]
) -> tuple[float, float, float, str, str]:
    dv, gv = value(d), value(g)
    ratio = dv / gv if gv else float("inf")
    kind, limit = target
    if kind == "ratio":
        return dv, gv, ratio, f"<= {limit:g}", "yes" if ratio <= limit else "no"
    if kind == "none":
        return dv, gv, ratio, "", ""
    return dv, gv, ratio, f"< {limit:g} ms", "yes" if dv < limit else "no"


def render(data: dict[str, Any]) -> str:
    passes: list[dict[str, Block]] = data["passes"]
    lines = [
        f"drafast {data['drafast']} ({data.get('python', 'Python ?')}) vs {data['reference']} "
        "(Go kubeletplugin helper), "
        f"{len(passes)} passes, rounds alternating between the two, {data.get('cpus', '?')} CPUs",
        "",
        "| metric | drafast | Go reference | ratio | target | met | "
        + " | ".join(f"ratio pass {i + 1}" for i in range(len(passes)))
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(passes),
    ]
    d, g = _merged(passes, "drafast"), _merged(passes, "go")
    for row, unit, value, target in ROWS:
        dv, gv, ratio, want, met = _cells(d, g, value, target)
        if math.isnan(dv) and math.isnan(gv):
            continue  # results from before this row was measured
        per_pass = [_cells(p["drafast"], p["go"], value, target)[2] for p in passes]
        lines.append(
            f"| {row} | {dv:.2f} {unit} | {gv:.2f} {unit} | {ratio:.2f} | {want} | {met} | "
            + " | ".join(f"{r:.2f}" for r in per_pass)
            + " |"
        )
    lines.append("")
    q = data.get("quiet", {})
    lines.append(
        f"Machine load before each pass (waited for <= {q.get('max_busy', 0):.0%} busy,"
        f" at most {q.get('within_s', 0):g} s):"
    )
    for i, p in enumerate(passes):
        b = p["drafast"]  # both plugins ran through the same pass
        during = f"; {b['busy_during']:.0%} busy during the pass" if "busy_during" in b else ""
        lines.append(f"- pass {i + 1}: {b['load']} (waited {b['waited_s']:.0f} s){during}")
    return "\n".join(lines)


def main(path: str) -> None:
    print(render(json.loads(Path(path).read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main(sys.argv[1])
