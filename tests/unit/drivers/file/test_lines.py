import asyncio
from pathlib import Path

import pytest

from drafast import _native
from drafast.drivers.file.lines import ClaimLines
from drafast.errors import DeviceError
from drafast.runtime.iojobs import IoJobs


def rewrite(path: Path, changes: dict[str, list[str]], durable: bool, exact: bool = False) -> bool:
    return _native.rewrite_claim_lines(str(path), list(changes.items()), durable, exact)


def test_rewrite_replaces_only_changed_claims_and_keeps_foreign_lines(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("header\nns/a claim=u1\nns/b claim=u2\n")
    f.chmod(0o640)
    rewrite(f, {"u1": ["ns/a2 claim=u1"], "u3": ["ns/c claim=u3"]}, durable=True)
    assert f.read_text() == "header\nns/b claim=u2\nns/a2 claim=u1\nns/c claim=u3\n"
    assert f.stat().st_mode & 0o777 == 0o640
    rewrite(f, {"u2": []}, durable=False)
    assert "u2" not in f.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rewrite_of_missing_file(tmp_path: Path) -> None:
    rewrite(tmp_path / "gone", {"u1": []}, durable=True)  # removing from nothing is fine
    with pytest.raises(DeviceError, match=r"file .*gone: does not exist"):
        rewrite(tmp_path / "gone", {"u1": ["x claim=u1"]}, durable=True)


async def test_concurrent_claims_on_one_file_do_not_clobber(
    tmp_path: Path, io_jobs: IoJobs
) -> None:
    f = tmp_path / "f"
    f.write_text("")
    lines = ClaimLines(io_jobs, durable=False)
    await asyncio.gather(*(lines.set_claim(f, f"u{i}", [f"ns/p{i} claim=u{i}"]) for i in range(50)))
    assert sorted(f.read_text().splitlines()) == sorted(f"ns/p{i} claim=u{i}" for i in range(50))
    await asyncio.gather(*(lines.drop_claim(f, f"u{i}") for i in range(0, 50, 2)))
    assert sorted(f.read_text().splitlines()) == sorted(
        f"ns/p{i} claim=u{i}" for i in range(1, 50, 2)
    )
    # coalesced: far fewer rewrites than claims
    assert lines._batchers[str(f)].flushes < 50


def test_exact_rewrite_keeps_only_the_given_claims_and_user_lines(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("user\nns/a claim=u1\nns/b claim=stale\n")
    rewrite(f, {"u1": ["ns/a claim=u1"], "u2": ["ns/c claim=u2"]}, durable=False, exact=True)
    assert f.read_text() == "user\nns/a claim=u1\nns/c claim=u2\n"


def test_unchanged_content_is_not_rewritten(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("ns/a claim=u1\n")
    before = f.stat().st_ino
    rewrite(f, {"u1": ["ns/a claim=u1"]}, durable=False)
    assert f.stat().st_ino == before  # same inode: no temp file + rename happened
