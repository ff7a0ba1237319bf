"""drafast._native checkpoint functions and store, checked against the pure-Python reference."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from drafast import _native
from drafast.errors import CheckpointError

from . import reference_checkpoint as ref
from .generators import random_json, random_key


def random_entries(rng: random.Random, count: int) -> list[tuple[str, bytes]]:
    entries = {random_key(rng): random_json(rng).encode() for _ in range(count)}
    return list(entries.items())


def test_constants() -> None:
    assert _native.CHECKPOINT_FORMAT_VERSION == ref.FORMAT_VERSION == 1
    assert isinstance(_native.__version__, str)


def test_crc32c_reference_check_value() -> None:
    assert ref.crc32c(b"123456789") == 0xE3069283


@pytest.mark.parametrize("seed", range(40))
def test_encode_decode_agree_with_reference(seed: int) -> None:
    rng = random.Random(seed)
    entries = random_entries(rng, rng.choice([0, 1, 5, 30]))
    generation = rng.choice([0, 1, 2**64 - 1, rng.randrange(2**64)])
    image = _native.encode_checkpoint(generation, entries)
    assert image == ref.encode(generation, entries)
    assert _native.decode_checkpoint(image, "f") == ref.decode(image, "f")
    assert _native.decode_checkpoint(image, "f") == (generation, sorted(entries))


def test_large_checkpoint() -> None:
    rng = random.Random(1)
    entries = [
        (f"ns/claim-{i:05}", random_json(rng).encode() * 0 + b'"' + b"x" * 4000 + b'"')
        for i in range(1024)
    ]
    image = _native.encode_checkpoint(9, entries)
    assert len(image) > 4_000_000
    assert image == ref.encode(9, entries)
    assert _native.decode_checkpoint(image, "big") == (9, entries)


def test_empty_checkpoint_exact_bytes() -> None:
    payload = b'{"generation":0,"claims":{}}'
    want = b"drafast-checkpoint/v1 crc32c=%08x length=%d\n" % (ref.crc32c(payload), len(payload))
    assert _native.encode_checkpoint(0, []) == want + payload


def assert_same_error(data: bytes, name: str = "/var/lib/x/ckpt") -> str:
    with pytest.raises(CheckpointError) as native:
        _native.decode_checkpoint(data, name)
    with pytest.raises(ref.ReferenceError) as reference:
        ref.decode(data, name)
    message, expected = str(native.value), str(reference.value)
    assert message.startswith(f"{name}: ")
    if expected.startswith(f"{name}: malformed payload:"):
        assert message.startswith(f"{name}: malformed payload:"), message
    else:
        assert message == expected
    return message


@pytest.mark.parametrize("seed", range(10))
def test_every_corruption_is_detected_like_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    image = _native.encode_checkpoint(rng.randrange(100), random_entries(rng, 4))
    for i in range(len(image)):
        flipped = bytearray(image)
        flipped[i] ^= rng.randrange(1, 256)
        assert_same_error(bytes(flipped))
    for cut in range(len(image)):
        assert_same_error(image[:cut])
    assert_same_error(image + b"\n")


def envelope(payload: bytes, crc: int | None = None, version: str = "1") -> bytes:
    crc = ref.crc32c(payload) if crc is None else crc
    return b"drafast-checkpoint/v%s crc32c=%08x length=%d\n" % (version.encode(), crc, len(payload))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "truncated (torn write?): 0 bytes, envelope line incomplete"),
        (b"drafast-checkpoint/v1 crc32c=00", "envelope line incomplete"),
        (b'{"generation":1}', "not a drafast checkpoint (bad magic)"),
        (envelope(b"{}", version="2") + b"{}", "written by a newer drafast (format v2)"),
        (envelope(b"{}", version="0") + b"{}", "malformed envelope line: format version 0"),
        (envelope(b"{}", version="01") + b"{}", "malformed envelope line"),
        (envelope(b"{}", crc=1) + b"{}", "checksum mismatch: corrupted"),
        (envelope(b"{}  ") + b"{}", "truncated (torn write?): 2 of 4 bytes"),
        (envelope(b"{}") + b"{}xx", "trailing garbage: 4 payload bytes, envelope says 2"),
        (envelope(b"[]") + b"[]", "malformed payload"),
        (envelope(b'{"generation":1}') + b'{"generation":1}', "malformed payload"),
        (
            envelope(b'{"generation":-1,"claims":{}}') + b'{"generation":-1,"claims":{}}',
            "malformed",
        ),
        (
            envelope(b'{"generation":1,"claims":{"a":NaN}}')
            + b'{"generation":1,"claims":{"a":NaN}}',
            "malformed payload",
        ),
        (
            envelope(b'{"generation":1,"claims":{"a":1,"a":2}}')
            + b'{"generation":1,"claims":{"a":1,"a":2}}',
            'key "a": duplicate',
        ),
        (
            envelope(b'{"generation":1,"claims":{"":1}}') + b'{"generation":1,"claims":{"":1}}',
            'key "": must not be empty',
        ),
        (
            envelope(b'{"generation":1,"claims":{"\\u0061":1}}')
            + b'{"generation":1,"claims":{"\\u0061":1}}',
            "malformed payload",
        ),
    ],
)
def test_decode_errors_name_the_file_and_the_problem(data: bytes, fragment: str) -> None:
    assert fragment in assert_same_error(data)


def test_decode_accepts_any_valid_layout_of_the_payload() -> None:
    payload = b'{ "claims" : { "b" : [1, 2] , "a" : {} } , "generation" : 4 }'
    data = envelope(payload) + payload
    assert (
        _native.decode_checkpoint(data, "f")
        == ref.decode(data, "f")
        == (4, [("a", b"{}"), ("b", b"[1, 2]")])
    )


BAD_KEYS = ["", 'a"b', "a\\b", "tab\t", "é", "\x7f", "nl\n"]
BAD_VALUES = [b"", b" 1", b"1 ", b"{", b"1 2", b"NaN", b"Infinity", b"\xff", b'"\x01"', b"{'a':1}"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_rejected(key: str) -> None:
    with pytest.raises(CheckpointError, match=r"^checkpoint: key "):
        _native.encode_checkpoint(1, [(key, b"1")])
    with pytest.raises(ref.ReferenceError):
        ref.encode(1, [(key, b"1")])


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_values_rejected(value: bytes) -> None:
    with pytest.raises(CheckpointError, match=r'^checkpoint: value of key "k": '):
        _native.encode_checkpoint(1, [("k", value)])
    with pytest.raises(ref.ReferenceError):
        ref.encode(1, [("k", value)])


def test_duplicate_keys_rejected() -> None:
    with pytest.raises(CheckpointError, match='key "a": duplicate'):
        _native.encode_checkpoint(1, [("a", b"1"), ("a", b"1")])


@pytest.mark.parametrize(
    ("generation", "entries"),
    [
        (-1, []),
        (2**64, []),
        ("1", []),
        (1, [("a", "1")]),
        (1, [(b"a", b"1")]),
        (1, [("a", b"1", b"2")]),
        (1, [["a", b"1"]]),
        (1, "ab"),
        (1, 5),
        (1, [("a", bytearray(b"1"))]),
        (1, [("\ud800", b"1")]),
    ],
)
def test_wrong_shapes_raise_value_error(generation: object, entries: object) -> None:
    with pytest.raises(ValueError):
        _native.encode_checkpoint(generation, entries)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- store


def test_store_open_missing_commit_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    store = _native.Checkpoint(str(path))
    assert (store.path, store.generation, store.commits, len(store)) == (str(path), 0, 0, 0)
    assert store.journal_path == f"{path}.journal"
    assert store.keys() == [] and store.items() == [] and store.get("a") is None
    assert store.commit([], []) == 0
    assert not list(tmp_path.iterdir()), "an empty commit writes nothing"
    assert store.commit([("b", b'{"x":1}'), ("a", b"1"), ("a", b"2")], []) == 1
    assert store.commit([("c", b"[]"), ("d", b"0")], ["b", "missing", "d"]) == 2
    assert store.commits == 2
    assert store.items() == [("a", b"2"), ("c", b"[]")]
    assert store.keys() == ["a", "c"] and len(store) == 2
    assert "a" in store and "b" not in store and 1 not in store and None not in store
    assert store.get("c") == b"[]"
    assert not path.exists(), "small commits go to the journal"
    assert Path(store.journal_path).read_bytes() == ref.encode_entry(
        1, {"a": b"2", "b": b'{"x":1}'}, []
    ) + ref.encode_entry(2, {"c": b"[]"}, ["b", "missing", "d"])
    assert "generation=2" in repr(store)
    assert _native.load_checkpoint(str(path)) == (2, store.items())

    reopened = _native.Checkpoint(str(path))
    assert (reopened.generation, reopened.commits, reopened.items()) == (2, 0, store.items())
    ref_store = ref.Store(str(path))
    assert (ref_store.generation, ref_store.state) == (2, {"a": b"2", "c": b"[]"})


def files(path: Path) -> tuple[bytes | None, bytes | None]:
    """The base image and the journal (None: no such file)."""
    journal = Path(f"{path}.journal")
    return (
        path.read_bytes() if path.exists() else None,
        journal.read_bytes() if journal.exists() else None,
    )


def test_store_agrees_with_reference_store(tmp_path: Path) -> None:
    """Byte for byte, journal appends and compactions alike (big values force compactions)."""
    rng = random.Random(5)
    native = _native.Checkpoint(str(tmp_path / "native"))
    reference = ref.Store(str(tmp_path / "reference"))
    keys = [random_key(rng) for _ in range(12)]
    compactions = 0
    for i in range(120):
        puts = [(rng.choice(keys), random_json(rng).encode()) for _ in range(rng.randrange(4))]
        if i % 7 == 3:
            puts.append((rng.choice(keys), b'"' + b"x" * rng.randrange(4000, 30000) + b'"'))
        deletes = [rng.choice(keys) for _ in range(rng.randrange(3))]
        assert native.commit(puts, deletes) == reference.commit(puts, deletes)
        assert files(tmp_path / "native") == files(tmp_path / "reference")
        compactions += files(tmp_path / "native")[1] == b""
    assert dict(native.items()) == reference.state
    assert compactions >= 2
    generation = native.generation
    assert _native.load_checkpoint(str(tmp_path / "native")) == (generation, native.items())
    reopened = ref.Store(str(tmp_path / "native"))
    assert (reopened.generation, reopened.state) == (generation, reference.state)


def test_store_invalid_input_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    store = _native.Checkpoint(str(path))
    store.commit([("a", b"1")], [])
    before = files(path)
    with pytest.raises(CheckpointError, match=f'^{re.escape(str(path))}: value of key "b"'):
        store.commit([("ok", b"1"), ("b", b"{")], [])
    with pytest.raises(CheckpointError, match=f"^{re.escape(str(path))}: key "):
        store.commit([], ['a"b'])
    with pytest.raises(ValueError, match="deletes"):
        store.commit([], "a")
    with pytest.raises(ValueError, match=r"puts\[0\]"):
        store.commit([("a", "1")], [])
    assert (store.generation, store.commits, files(path)) == (1, 1, before)


BIG = b'"' + b"x" * 70_000 + b'"'  # a commit this big compacts the journal into the base


def test_store_corruption_detected_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    _native.Checkpoint(str(path)).commit([("a", BIG)], [])
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(
        CheckpointError, match=f"^{re.escape(str(path))}: checksum mismatch: corrupted"
    ):
        _native.Checkpoint(str(path))
    path.write_bytes(bytes(data[:-5]))
    with pytest.raises(
        CheckpointError, match=rf"^{re.escape(str(path))}: truncated \(torn write\?\)"
    ):
        _native.Checkpoint(str(path))


def test_journal_damage_is_refused_and_a_torn_tail_cut(tmp_path: Path) -> None:
    path, journal = tmp_path / "ckpt", tmp_path / "ckpt.journal"
    store = _native.Checkpoint(str(path))
    store.commit([("a", b'"value"')], [])
    first = journal.read_bytes()
    store.commit([("b", b"2")], [])
    both = journal.read_bytes()
    damaged = bytearray(both)
    damaged[len(first) - 4] ^= 0x01  # in the first entry's payload
    journal.write_bytes(bytes(damaged))
    for read in (_native.Checkpoint, _native.load_checkpoint):
        with pytest.raises(
            CheckpointError, match=f"^{re.escape(str(journal))}: entry at byte 0: checksum"
        ):
            read(str(path))
    assert journal.read_bytes() == bytes(damaged), "left for the operator to inspect"
    with pytest.raises(ref.ReferenceError, match="entry at byte 0: checksum"):
        ref.Store(str(path))

    journal.write_bytes(both[:-7])  # the second append torn by a crash
    assert _native.load_checkpoint(str(path)) == (1, [("a", b'"value"')])
    assert journal.read_bytes() == both[:-7], "load changes nothing"
    assert _native.Checkpoint(str(path)).items() == [("a", b'"value"')]
    assert journal.read_bytes() == first, "open cuts the torn tail"


def test_store_open_errors(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "ckpt"
    with pytest.raises(CheckpointError, match=f"^{re.escape(str(missing))}: "):
        _native.Checkpoint(str(missing))
    with pytest.raises(TypeError):
        _native.Checkpoint(tmp_path / "ckpt")  # type: ignore[arg-type]


def test_store_removes_leftover_temp_files(tmp_path: Path) -> None:
    names = [".ckpt.tmp.123.0", ".ckpt.tmp.99999.42", ".ckpt.tmp.x.1", ".other.tmp.1.1", "keep"]
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    store = _native.Checkpoint(str(tmp_path / "ckpt"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.tmp.x.1", ".other.tmp.1.1", "keep"]
    store.commit([("a", b"1")], [])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".ckpt.tmp.x.1",
        ".other.tmp.1.1",
        "ckpt.journal",
        "keep",
    ]


def test_store_concurrent_commits_from_threads(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    store = _native.Checkpoint(str(path))
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(25):
                store.commit([(f"t{t}/{i}", b'{"ok":true}')], [])
                assert f"t{t}/{i}" in store
                store.items()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert (store.generation, store.commits, len(store)) == (200, 200, 200)
    reopened = _native.Checkpoint(str(path))
    assert (reopened.generation, len(reopened)) == (200, 200)


def test_commit_releases_the_gil(tmp_path: Path) -> None:
    """While one long commit encodes and fsyncs, another Python thread keeps running."""
    store = _native.Checkpoint(str(tmp_path / "ckpt"))
    big = [(f"k{i}", b'"' + b"x" * 100_000 + b'"') for i in range(300)]
    window: list[float] = []
    ticks: list[float] = []

    def committer() -> None:
        window.append(time.monotonic())
        store.commit(big, [])
        window.append(time.monotonic())

    thread = threading.Thread(target=committer)
    thread.start()
    while thread.is_alive():
        ticks.append(time.monotonic())
        time.sleep(0.0002)
    thread.join()
    during = [t for t in ticks if window[0] < t < window[1]]
    assert len(during) >= 5, (window[1] - window[0], len(during))


# ----------------------------------------------------------------------------- kill -9

KEYS = 16
CHILD = """
import sys
from drafast._native import Checkpoint

store = Checkpoint(sys.argv[1])
while True:
    generation = store.generation + 1
    keep = generation % 16
    value = str(generation).encode()
    puts = [(f"k{i:02}", value) for i in range(keep + 1)]
    deletes = [f"k{i:02}" for i in range(keep + 1, 16)]
    assert store.commit(puts, deletes) == generation
    print(generation, flush=True)
"""


def expected_items(generation: int) -> list[tuple[str, bytes]]:
    if generation == 0:
        return []
    return [(f"k{i:02}", str(generation).encode()) for i in range(generation % KEYS + 1)]


def test_kill_9_always_leaves_one_committed_state(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    path = tmp_path / "ckpt"
    last = 0
    for round_ in range(20):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + rng.uniform(0.1, 0.4)
        while time.monotonic() < deadline:  # readers always see a whole committed state
            generation, items = _native.load_checkpoint(str(path))
            assert items == expected_items(generation), f"seed {seed}"
            time.sleep(rng.uniform(0, 0.01))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        acked = [int(line) for line in out.split()]

        store = _native.Checkpoint(str(path))
        generation = store.generation
        assert store.items() == expected_items(generation), f"seed {seed} round {round_}"
        if acked:  # the kill may land between the commit and the print
            assert generation in (acked[-1], acked[-1] + 1), f"seed {seed} round {round_}"
        assert generation >= last
        assert not [p for p in tmp_path.iterdir() if ".tmp." in p.name]
        last = generation
    assert last > 20, f"the child made progress (seed {seed})"
