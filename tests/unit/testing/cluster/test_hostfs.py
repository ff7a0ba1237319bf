from __future__ import annotations

from pathlib import Path

import pytest

from drafast.testing.cluster.hostfs import cgroup_dirs, mounts_under, unmount_all_under


@pytest.mark.parametrize("name", ["", "drafast-node-", "user.slice", "drafast-node-1/x"])
def test_cgroup_dirs_only_ever_names_a_node_cgroup(name: str) -> None:
    assert cgroup_dirs(name) == []


def test_unmount_all_under_refuses_short_or_relative_paths() -> None:
    for root in (Path("/"), Path("/tmp"), Path("a/b/c")):
        with pytest.raises(ValueError, match="refusing"):
            unmount_all_under(root)


def test_nothing_is_mounted_under_a_fresh_dir(tmp_path: Path) -> None:
    assert mounts_under(tmp_path) == []
    assert unmount_all_under(tmp_path) == []
