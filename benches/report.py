"""Turn pytest-benchmark JSON into the README's table (p50/p99 and claims/s where recorded)."""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    data = json.loads(open(path, encoding="utf-8").read())  # noqa: PTH123, SIM115
    print("| benchmark | p50 | p99 | mean | throughput |")
    print("|---|---|---|---|---|")
    for b in data["benchmarks"]:
        s, x = b["stats"], b.get("extra_info", {})
        p50 = x.get("p50_ms", s["median"] * 1e3)
        p99 = x.get("p99_ms")
        rate = x.get("claims_per_s")
        thr = f"{rate:,.0f} claims/s" if rate else f"{s['ops']:,.0f} ops/s"
        p99s = f"{p99:.3f} ms" if p99 is not None else f"(max {s['max'] * 1e3:.3f} ms)"
        print(
            f"| {b['fullname'].split('::', 1)[1]} | {p50:.3f} ms | {p99s} | "
            f"{s['mean'] * 1e3:.3f} ms | {thr} |"
        )
        if "unprepare_p50_ms" in x:
            print(
                f"| ↳ unprepare of the same claims | {x['unprepare_p50_ms']:.3f} ms | "
                f"{x['unprepare_p99_ms']:.3f} ms | | |"
            )


if __name__ == "__main__":
    main(sys.argv[1])
