"""`drafast demo` as a person runs it (`make demo`): every step shown, exit 0, nothing left."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_shows_every_step_and_exits_0() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "drafast", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    steps = re.findall(r"^== (\d)\. ", out, flags=re.MULTILINE)
    assert steps == [str(i) for i in range(1, 9)], out
    assert "[FAIL]" not in out and out.rstrip().endswith("all checks passed")
    assert re.search(r"prepare p50 \d+\.\d+ ms, p99 \d+\.\d+ ms", out)
    assert "claim=" in out  # the file content with the demo pod's line was shown
    workdir = re.search(r"everything under (\S+)", out)
    assert workdir and not Path(workdir[1]).exists()  # cleaned up without --keep
