"""drafast._native.nx_probe, checked against the pure-Python reference on every fixture tree and
on seeded random variants of them (valid or broken)."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest
from nx_fixture import trees

from drafast import _native
from drafast.errors import DeviceError

from . import reference_nx as ref

VIO_FIELDS = (
    "path",
    "req_max_processed_len",
    "min_compress_len",
    "min_decompress_len",
    "default_credits_total",
    "default_credits_used",
    "qos_credits_total",
    "qos_credits_used",
)


def as_data(p: Any) -> dict[str, Any]:
    """A probe record (native pyclass or reference dataclass) as plain data."""
    c = p.char_device
    return {
        "platform": p.platform,
        "reason": p.reason,
        "usable": p.usable,
        "device_tree": p.device_tree,
        "vio": None if p.vio is None else {f: getattr(p.vio, f) for f in VIO_FIELDS},
        "engines": [(e.node, e.compatible, e.generation, e.chip_id) for e in p.engines],
        "char_device": None if c is None else (c.path, c.major, c.minor, c.source),
    }


def agree(root: Path) -> dict[str, Any] | str:
    """Native and reference give the same record, or fail with the same message."""
    try:
        want = as_data(ref.probe(str(root)))
    except ref.ReferenceError as e:
        with pytest.raises(DeviceError) as got:
            _native.nx_probe(str(root))
        assert str(got.value) == str(e)
        return str(e)
    assert as_data(_native.nx_probe(str(root))) == want
    return want


# ----------------------------------------------------------------------------- fixture trees


@pytest.mark.parametrize("name", sorted(trees.TREES))
def test_fixture_trees_agree_with_reference(tmp_path: Path, name: str) -> None:
    got = agree(trees.build(name, tmp_path / name))
    assert isinstance(got, dict)


@pytest.mark.parametrize("name", sorted(trees.BROKEN))
def test_broken_trees_are_errors_naming_the_file(tmp_path: Path, name: str) -> None:
    root = trees.build(name, tmp_path / name)
    message = agree(root)
    assert isinstance(message, str)
    assert message.startswith(str(root) + "/"), message
    assert message.endswith(trees.BROKEN[name][2]), message


def test_lpar_with_nx(tmp_path: Path) -> None:
    root = trees.build("lpar-nx", tmp_path)
    p = _native.nx_probe(str(root))
    assert (p.platform, p.usable, p.reason, p.engines) == ("powervm", True, "", [])
    assert p.vio is not None
    assert p.vio.path == f"{root}/sys/devices/vio/ibm,compression-v1/nx_gzip_caps"
    assert (p.vio.req_max_processed_len, p.vio.min_compress_len, p.vio.min_decompress_len) == (
        1048576,
        4096,
        2048,
    )
    assert (p.vio.default_credits_total, p.vio.default_credits_used) == (240, 2)
    assert (p.vio.qos_credits_total, p.vio.qos_credits_used) == (20, 0)
    assert p.char_device is not None
    assert (p.char_device.major, p.char_device.minor, p.char_device.source) == (243, 0, "sysfs")
    assert p.char_device.path == f"{root}/sys/class/nx-gzip/nx-gzip/dev"
    assert p.device_tree == f"{root}/proc/device-tree"


def test_lpar_without_nx_is_a_reason_not_an_error(tmp_path: Path) -> None:
    root = trees.build("lpar-no-nx", tmp_path)
    p = _native.nx_probe(str(root))
    assert (p.platform, p.usable, p.vio, p.engines, p.char_device) == ("", False, None, [], None)
    assert p.reason == (
        f"no NX-gzip accelerator: {root}/sys/devices/vio/ibm,compression-v1/nx_gzip_caps "
        f"does not exist (PowerVM) and {root}/proc/device-tree has no ibm,powerN-nx node "
        "with N >= 9 (PowerNV)"
    )


def test_hardware_without_device_is_not_usable(tmp_path: Path) -> None:
    root = trees.build("lpar-nx-no-dev", tmp_path)
    p = _native.nx_probe(str(root))
    assert p.platform == "powervm" and not p.usable
    assert p.reason == (
        f"NX-gzip accelerator found (powervm) but neither {root}/dev/crypto/nx-gzip nor "
        f"{root}/sys/class/nx-gzip/nx-gzip/dev exists: is the kernel's nx-gzip driver loaded?"
    )


def test_two_chip_powernv(tmp_path: Path) -> None:
    p = _native.nx_probe(str(trees.build("powernv-2chip", tmp_path)))
    assert (p.platform, p.usable, p.vio) == ("powernv", True, None)
    assert [(e.node, e.compatible, e.generation, e.chip_id) for e in p.engines] == [
        ("xscom@603fc00000000/nx@2010000", "ibm,power9-nx", 9, 0),
        ("xscom@623fc00000000/nx@2010000", "ibm,power9-nx", 9, 8),
    ]
    p = _native.nx_probe(str(trees.build("powernv-p10-p11", tmp_path / "later")))
    assert [(e.compatible, e.generation) for e in p.engines] == [
        ("ibm,power10-nx", 10),
        ("ibm,power11-nx", 11),
    ]


def test_device_node_numbers_come_from_stat(tmp_path: Path) -> None:
    root = trees.build("powernv-2chip", tmp_path)
    if not trees.make_device_node(root, 1, 3):
        pytest.fail("cannot mknod a stand-in device here: the NX tests need root")
    p = agree(root)
    assert isinstance(p, dict)
    assert p["char_device"] == (f"{root}/dev/crypto/nx-gzip", 1, 3, "node")


def test_device_tree_behind_the_proc_symlink(tmp_path: Path) -> None:
    """On a host, proc/device-tree links to /sys/firmware/devicetree/base: re-rooted."""
    root = trees.build("powernv-2chip", tmp_path)
    base = root / "sys/firmware/devicetree/base"
    base.parent.mkdir(parents=True)
    (root / "proc/device-tree").rename(base)
    (root / "proc/device-tree").symlink_to("/sys/firmware/devicetree/base")
    p = agree(root)
    assert isinstance(p, dict)
    assert p["device_tree"] == str(base) and len(p["engines"]) == 2
    (root / "proc/device-tree").unlink()
    (root / "proc/device-tree").symlink_to("../sys/firmware/devicetree/base")  # relative
    p = agree(root)
    assert isinstance(p, dict) and len(p["engines"]) == 2


def test_missing_or_odd_host_root(tmp_path: Path) -> None:
    assert agree(tmp_path / "nope") == f"{tmp_path}/nope: host root does not exist"
    (tmp_path / "file").write_text("")
    assert agree(tmp_path / "file") == f"{tmp_path}/file: host root is not a directory"


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    root = trees.build("lpar-nx", tmp_path)
    os.mkfifo(root / "sys/devices/vio/ibm,compression-v1/nx_gzip_caps/x")  # never read: not ours
    (root / "sys/class/nx-gzip/nx-gzip/dev").unlink()
    (root / "sys/class/nx-gzip/nx-gzip/dev").mkdir()
    assert agree(root) == f"{root}/sys/class/nx-gzip/nx-gzip/dev: cannot read: Is a directory"


# ----------------------------------------------------------------------------- record shape


def test_records_are_frozen_comparable_values(tmp_path: Path) -> None:
    root = str(trees.build("powernv-2chip", tmp_path))
    a, b = _native.nx_probe(root), _native.nx_probe(root)
    assert a == b and a is not b
    assert a.engines[0] == b.engines[0] and a.engines[0] != a.engines[1]
    with pytest.raises(AttributeError):
        a.platform = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a.engines[0].chip_id = 3  # type: ignore[misc]
    assert repr(a).startswith('NxProbe(platform="powernv", vio=None, device_tree=')
    assert 'NxEngine(node="xscom@603fc00000000/nx@2010000", compatible="ibm,power9-nx"' in repr(a)
    with pytest.raises(TypeError):
        _native.NxProbe()  # type: ignore[call-arg]


def test_concurrent_probes_from_threads(tmp_path: Path) -> None:
    """The GIL is released during the walk; concurrent probes must not interfere."""
    root = str(trees.build("powernv-large", tmp_path))
    want = _native.nx_probe(root)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(_native.nx_probe(root))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [want] * 4


# ----------------------------------------------------------------------------- random variants

CAPS_VALUES = [
    "0\n",
    "1048576\n",
    "4096",
    "007\n",
    "18446744073709551615\n",
    "18446744073709551616\n",
    "",
    "\n",
    "-1\n",
    "1 \n",
    " 1\n",
    "1\n\n",
    "0x10\n",
    "1_000\n",
    "١٢\n",
    "9" * 40,
    "12\r\n",
]
DEV_VALUES = ["243:0\n", "1:3", "4095:1048575\n", "4096:0\n", "1:1048576", "243\n", ":", "a:b", ""]
COMPATIBLES = [
    b"ibm,power9-nx\0ibm,power-nx\0",
    b"ibm,power10-nx\0",
    b"ibm,power-nx\0ibm,power11-nx\0",
    b"ibm,power8-nx\0",
    b"ibm,power9-nx",
    b"ibm,power9-nx\0\0",
    b"\0ibm,power9-nx\0",
    b"ibm,power9-nx\0ibm power\0",
    b"ibm,power09-nx\0",
    b"ibm,p9-nx-gzip\0",
    b"ibm,power9-nx\0\xff\0",
    b"",
    b"\0",
]
CHIP_IDS = [b"\0\0\0\0", b"\0\0\0\x08", b"\xff\xff\xff\xff", b"\0\0\x08", b"", b"\0" * 8]


def mutate(rng: random.Random, root: Path) -> None:
    """A few random edits: values from pools of good and bad ones, removals, odd file types."""
    caps = root / trees.CAPS
    for _ in range(rng.randrange(1, 4)):
        kind = rng.randrange(8)
        if kind == 0 and caps.is_dir():
            name = rng.choice(["req_max_processed_len", "min_compress_len", "min_decompress_len"])
            if not (caps / name).is_dir():
                trees.write(caps, {name: rng.choice(CAPS_VALUES)})
        elif kind == 1 and caps.is_dir():
            group = rng.choice(["default_capabilities", "qos_capabilities"])
            name = rng.choice(["nr_total_credits", "nr_used_credits"])
            trees.write(root, {f"{trees.VAS}/{group}/{name}": rng.choice(CAPS_VALUES)})
        elif kind == 2:
            trees.write(root, {trees.SYSFS_DEV: rng.choice(DEV_VALUES)})
        elif kind == 3:
            chip = rng.choice([0, 8])
            trees.write(
                root, {f"{trees.XSCOM[chip]}/{trees.NX}/compatible": rng.choice(COMPATIBLES)}
            )
        elif kind == 4:
            chip = rng.choice([0, 8])
            where = rng.choice(["", f"/{trees.NX}"])
            trees.write(root, {f"{trees.XSCOM[chip]}{where}/ibm,chip-id": rng.choice(CHIP_IDS)})
        elif kind == 5:
            victims = [p for p in root.rglob("*") if p.is_file()]
            if victims:
                rng.choice(victims).unlink()
        elif kind == 6:
            trees.write(
                root, {f"{trees.DT}/extra@{rng.randrange(99)}/compatible": rng.choice(COMPATIBLES)}
            )
        elif kind == 7 and caps.is_dir() and rng.random() < 0.3:
            # An attribute that is a directory cannot be read.
            target = caps / rng.choice(["req_max_processed_len", "min_compress_len"])
            target.unlink(missing_ok=True)
            target.mkdir()


def test_random_variants_agree_with_reference(tmp_path: Path) -> None:
    rng = random.Random(5)
    outcomes: set[str] = set()
    for i in range(300):
        base = rng.choice(["lpar-nx", "lpar-no-nx", "powernv-2chip", "powernv-p10-p11", "empty"])
        root = trees.build(base, tmp_path / f"t{i}")
        mutate(rng, root)
        got = agree(root)
        outcomes.add("error" if isinstance(got, str) else f"ok-{got['platform'] or 'none'}")
    # the generator reaches every kind of outcome
    assert outcomes == {"error", "ok-powervm", "ok-powernv", "ok-none"}, outcomes
