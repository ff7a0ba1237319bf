from pathlib import Path

import pytest

from drafast.app.settings import RunOptions
from drafast.testing import plugin_options


@pytest.fixture
def opts(tmp_path: Path) -> RunOptions:
    files = tmp_path / "files"
    files.mkdir()
    for name in ("alpha", "beta", "Notes.txt"):
        (files / name).write_text("")
    return plugin_options(tmp_path)
