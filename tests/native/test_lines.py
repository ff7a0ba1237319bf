"""drafast._native.rewrite_claim_lines, checked against the pure-Python reference."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from drafast import _native
from drafast.errors import DeviceError

from . import reference_lines as ref

UIDS = ["u1", "u2", "u3", "a-b", "é"]
LINE_POOL = [
    b"",
    b"# header",
    b"plain text",
    b" claim=u1",  # nothing before the mark: not a claim line
    b"ns/p claim=",
    b"ns/p claim=u1 extra",  # a space in the "uid": not a claim line
    b"a claim=x claim=u2",  # the last mark counts
    b"\xff\xfe not utf-8",
    b"tab\there",
    b"cr\r",
]


def random_content(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randrange(8)):
        if rng.random() < 0.5:
            lines.append(f"ns/pod-{rng.randrange(9)} claim={rng.choice(UIDS)}".encode())
        else:
            lines.append(rng.choice(LINE_POOL))
    data = b"\n".join(lines)
    return data + b"\n" if lines and rng.random() < 0.8 else data


def random_changes(rng: random.Random) -> list[tuple[str, list[str]]]:
    uids = rng.sample(UIDS, rng.randrange(len(UIDS) + 1))
    return [
        (uid, [f"ns/new-{rng.randrange(9)} claim={uid}" for _ in range(rng.randrange(3))])
        for uid in uids
    ]


Outcome = tuple[object, ...]


def outcome(
    fn: Callable[..., bool], path: Path, changes: Sequence[tuple[str, Sequence[str]]], exact: bool
) -> Outcome:
    """What a rewrite did: its error message, or its result, the file's bytes and mode."""
    try:
        wrote = fn(path if fn is ref.rewrite else str(path), changes, False, exact)
    except DeviceError as err:
        return ("error", str(err))
    if not path.is_file():
        return ("ok", wrote, None, None)
    return ("ok", wrote, path.read_bytes(), path.stat().st_mode)


def test_random_rewrites_agree_with_reference(tmp_path: Path) -> None:
    rng = random.Random(7)
    for case in range(400):
        content, changes, exact = random_content(rng), random_changes(rng), rng.random() < 0.3
        mode = rng.choice([0o600, 0o640, 0o644])
        results = []
        for impl in (ref.rewrite, _native.rewrite_claim_lines):
            f = tmp_path / f"{impl.__name__}-{case}"
            f.write_bytes(content)
            f.chmod(mode)
            results.append(outcome(impl, f, changes, exact))
        assert results[0] == results[1], (case, content, changes, exact)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_errors_agree_with_reference(tmp_path: Path) -> None:
    long_name = tmp_path / ("f" * 250)  # the temp name is over NAME_MAX: the write fails
    long_name.write_text("ns/a claim=u1\n")
    cases = [
        (tmp_path / "gone", [("u1", ["ns/a claim=u1"])]),  # missing file, lines to add
        (tmp_path / "gone", [("u1", [])]),  # missing file, removal only: fine
        (tmp_path, [("u1", ["x claim=u1"])]),  # a directory: cannot read
        (long_name, [("u2", ["ns/b claim=u2"])]),
    ]
    for path, changes in cases:
        want = outcome(ref.rewrite, path, changes, False)
        assert outcome(_native.rewrite_claim_lines, path, changes, False) == want
    assert want[0] == "error"
    assert str(want[1]).endswith("cannot rewrite: File name too long")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ("u1", "changes: expected a sequence of tuples"),
        ([("u1",)], r"changes\[0\]: expected a \(claim uid, list of lines\) tuple"),
        ([("u1", "line")], r"changes\[0\]: expected"),
        ([(1, ["x"])], r"changes\[0\]: expected"),
        ([("u1", ["a\nb claim=u1"])], r"changes\[0\]: line .* contains a newline"),
    ],
)
def test_malformed_changes_are_rejected(tmp_path: Path, changes: object, message: str) -> None:
    f = tmp_path / "f"
    f.write_text("keep\n")
    with pytest.raises(ValueError, match=message):
        _native.rewrite_claim_lines(str(f), changes, False)  # type: ignore[arg-type]
    assert f.read_text() == "keep\n"
