"""Turn pytest-benchmark JSON into the README's table (p50/p99 and claims/s where recorded)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

_SHOWN = {
    "p50_ms",
    "p99_ms",
    "mean_ms",
    "rounds",
    "claims_per_s",
    "calls_per_s",
    "unprepare_p50_ms",
    "unprepare_p99_ms",
}


def _notes(extra: dict[str, object]) -> str:
    parts = []
    for key, value in extra.items():
        if key in _SHOWN:
            continue
        if key == "plugin_rss_kib" and isinstance(value, int):
            parts.append(f"plugin RSS {value / 1024:.0f} MiB")
        else:
            parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts)


def main(path: str) -> None:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    print("| benchmark | p50 | p99 | mean | throughput | notes |")
    print("|---|---|---|---|---|---|")
    for b in data["benchmarks"]:
        s, x = b["stats"], b.get("extra_info", {})
        p50 = x.get("p50_ms", s["median"] * 1e3)
        p99 = x.get("p99_ms")
        mean = x.get("mean_ms", s["mean"] * 1e3)
        rate, calls = x.get("claims_per_s"), x.get("calls_per_s")
        if rate:
            thr = f"{rate:,.0f} claims/s"
        elif calls:
            thr = f"{calls:,.0f} calls/s"
        else:
            thr = f"{s['ops']:,.1f} ops/s"
        p99s = f"{p99:.3f} ms" if p99 is not None else f"(max {s['max'] * 1e3:.3f} ms)"
        name = f"{b['fullname'].split('/')[-1]}"
        print(f"| {name} | {p50:.3f} ms | {p99s} | {mean:.3f} ms | {thr} | {_notes(x)} |")
        if "unprepare_p50_ms" in x:
            print(
                f"| ↳ unprepare of the same claims | {x['unprepare_p50_ms']:.3f} ms | "
                f"{x['unprepare_p99_ms']:.3f} ms | | | |"
            )


if __name__ == "__main__":
    main(sys.argv[1])
