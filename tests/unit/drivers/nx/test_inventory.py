"""Probe records -> publishable accelerators (on the fixture host roots)."""

from pathlib import Path

from nx_fixture import trees

from drafast import _native
from drafast.drivers.nx.inventory import DEFAULT_SHARES, Sharing, inventory
from drafast.types import Capacity, RequestPolicy, ValidRange


def probe(tmp_path: Path, name: str) -> _native.NxProbe:
    return _native.nx_probe(str(trees.build(name, tmp_path / name)))


def test_lpar_is_one_exclusive_device_with_its_capabilities(tmp_path: Path) -> None:
    inv = inventory(probe(tmp_path, "lpar-nx"), Sharing.EXCLUSIVE, None)
    assert inv.reason == ""
    [acc] = inv.accelerators.values()
    assert (acc.name, acc.platform, acc.major, acc.minor, acc.chip_id) == (
        "nx-gzip",
        "powervm",
        243,
        0,
        None,
    )
    dev = acc.device(Sharing.EXCLUSIVE)
    assert dict(dev.attributes) == {
        "platform": "powervm",
        "compatible": "ibm,compression-v1",
        "reqMaxProcessedLen": 1048576,
        "minCompressLen": 4096,
        "minDecompressLen": 2048,
        "qosCredits": 20,
        "sharing": "exclusive",
    }
    # the credits the partition has are published, but not shareable
    assert dict(dev.capacity) == {"credits": Capacity(value="240")}
    assert not dev.allow_multiple_allocations


def test_shared_lpar_offers_credits_with_a_request_policy(tmp_path: Path) -> None:
    p = probe(tmp_path, "lpar-nx")
    dev = inventory(p, Sharing.SHARED, None).accelerators["nx-gzip"].device(Sharing.SHARED)  # type: ignore[index]
    assert dev.allow_multiple_allocations
    assert dev.attributes["sharing"] == "shared"
    assert dict(dev.capacity) == {
        "credits": Capacity(
            value="240",
            request_policy=RequestPolicy(
                default="1", valid_range=ValidRange(min="1", max="240", step="1")
            ),
        )
    }
    # a configured limit below the probed credits wins, one above does not
    capped = inventory(p, Sharing.SHARED, 8).accelerators["nx-gzip"]  # type: ignore[index]
    assert capped.credits == 8
    assert inventory(p, Sharing.SHARED, 1000).accelerators["nx-gzip"].credits == 240  # type: ignore[index]


def test_powernv_is_one_device_per_chip(tmp_path: Path) -> None:
    p = probe(tmp_path, "powernv-2chip")
    inv = inventory(p, Sharing.EXCLUSIVE, None)
    assert list(inv.accelerators) == ["nx-gzip-chip0", "nx-gzip-chip8"]
    acc = inv.accelerators["nx-gzip-chip8"]  # type: ignore[index]
    assert acc.chip_id == 8 and acc.credits is None  # unknown, and not needed when exclusive
    dev = acc.device(Sharing.EXCLUSIVE)
    assert dict(dev.attributes) == {
        "platform": "powernv",
        "compatible": "ibm,power9-nx",
        "generation": 9,
        "chipID": 8,
        "sharing": "exclusive",
    }
    assert dev.capacity == {}
    # shared: the default number of credits, unless a limit is configured
    assert {a.credits for a in inventory(p, Sharing.SHARED, None).accelerators.values()} == {
        DEFAULT_SHARES
    }
    assert {a.credits for a in inventory(p, Sharing.SHARED, 4).accelerators.values()} == {4}


def test_unusable_probes_publish_nothing_with_the_reason(tmp_path: Path) -> None:
    for name in ("lpar-no-nx", "lpar-nx-no-dev", "empty"):
        p = probe(tmp_path, name)
        inv = inventory(p, Sharing.EXCLUSIVE, None)
        assert inv.accelerators == {} and inv.reason == p.reason != ""


def test_a_partition_without_credits_publishes_nothing(tmp_path: Path) -> None:
    root = trees.build("lpar-nx", tmp_path)
    trees.write(root, {f"{trees.VAS}/default_capabilities/nr_total_credits": "0\n"})
    inv = inventory(_native.nx_probe(str(root)), Sharing.SHARED, None)
    assert inv.accelerators == {}
    assert "the partition has no VAS credits" in inv.reason
