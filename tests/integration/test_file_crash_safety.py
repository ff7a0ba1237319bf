"""kill -9 while the file driver rewrites a shared file: the file is always the old or the new
content, never a mix or a truncation."""

import asyncio
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drafast.drivers.file import FileDriver, FileDriverSettings
from drafast.runtime.iojobs import IoJobs
from drafast.types import NodeName, PoolName

pytestmark = pytest.mark.integration

WRITER = """
import sys
from pathlib import Path
from drafast._native import rewrite_claim_lines
path = sys.argv[1]
n = 0
while True:
    n += 1
    # every generation replaces all 50 claims' lines with lines carrying the generation number
    changes = [(f"u{i}", [f"ns/pod-{i}-gen-{n} claim=u{i}"]) for i in range(50)]
    rewrite_claim_lines(path, changes, False)
"""


def generations(text: str) -> set[str]:
    lines = text.splitlines()
    assert lines[0] == "# header kept by every rewrite"
    body = lines[1:]
    assert len(body) == 50, f"{len(body)} claim lines: torn or mixed"
    return {line.split("-gen-")[1].split(" ")[0] for line in body}


def test_kill_9_during_rewrites_never_tears_the_file(tmp_path: Path) -> None:
    f = tmp_path / "shared"
    f.write_text(
        "# header kept by every rewrite\n"
        + "".join(f"ns/pod-{i}-gen-0 claim=u{i}\n" for i in range(50))
    )
    rng = random.Random(7)
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(f)])
        time.sleep(rng.uniform(0.05, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(generations(f.read_text())) == 1  # exactly one generation: old or new
    # temp files of killed writers (and a spare made for the next rewrite) are hidden, never
    # taken for devices, and removed at start
    (tmp_path / ".shared.drafast-tmp.spare").write_bytes(b"")
    io = IoJobs("crash-test")
    driver = FileDriver(FileDriverSettings(resource_dir=tmp_path), node_name=NodeName("n"), io=io)
    resources = asyncio.run(driver.discover())
    assert [d.name for d in resources.pools[PoolName("n")].slices[0].devices] == ["shared"]
    assert [p.name for p in tmp_path.iterdir()] == ["shared"]
