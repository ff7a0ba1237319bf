from pathlib import Path

import pytest

from drafast.errors import ClaimError, ClaimNotFoundError, ConfigError
from drafast.k8s import DirClaimSource, DirStore, allocated_claim
from drafast.types import ClaimRef, ClaimUID


def test_put_get_list_delete(tmp_path: Path) -> None:
    s = DirStore(tmp_path)
    obj = {"metadata": {"name": "n1"}, "spec": {"x": 1}}
    p = s.put("deviceclasses", obj)
    assert p == tmp_path / "deviceclasses" / "n1.json"
    assert s.get("deviceclasses", "n1") == obj
    assert [o for _, o in s.list("deviceclasses")] == [obj]
    assert s.put("deviceclasses", obj, fmt="yaml") == tmp_path / "deviceclasses" / "n1.yaml"
    assert not p.exists()  # one file per object
    assert s.get("deviceclasses", "n1") == obj
    assert s.delete("deviceclasses", "n1")
    assert s.get("deviceclasses", "n1") is None


def test_json_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "resourceclaims" / "ns").mkdir(parents=True)
    (tmp_path / "resourceclaims" / "ns" / "c.json").write_text('{"metadata": {"name": "c"}}')
    assert DirStore(tmp_path).get("resourceclaims", "c", "ns") == {"metadata": {"name": "c"}}


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    d = tmp_path / "resourceclaims" / "ns"
    d.mkdir(parents=True)
    (d / "bad.yaml").write_text("a: [unclosed")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML"):
        DirStore(tmp_path).get("resourceclaims", "bad", "ns")
    with pytest.raises(ConfigError, match=r"list.yaml: expected one object, got list"):
        DirStore(tmp_path).get("resourceclaims", "list", "ns")


async def test_claim_source(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    obj = allocated_claim(
        namespace="ns", name="c", driver="d.example.com", devices=[("r", "p", "d")]
    )
    store.put("resourceclaims", obj, "ns")
    src = DirClaimSource(store)
    ref = ClaimRef(namespace="ns", name="c", uid=ClaimUID(obj["metadata"]["uid"]))
    assert await src.get_claim(ref) == obj
    with pytest.raises(ClaimNotFoundError, match=r"claim ns/missing \(u\): not found"):
        await src.get_claim(ClaimRef(namespace="ns", name="missing", uid=ClaimUID("u")))
    (tmp_path / "resourceclaims" / "ns" / "c.json").write_text("{not json")
    with pytest.raises(ClaimError, match=r"claim ns/c .*not valid JSON"):
        await src.get_claim(ref)


async def test_concurrent_reads_answer_each_claim(tmp_path: Path) -> None:
    import asyncio

    store = DirStore(tmp_path)
    objs = [
        allocated_claim(
            namespace="ns", name=f"c{i}", driver="d.example.com", devices=[("r", "p", "d")]
        )
        for i in range(20)
    ]
    for o in objs:
        store.put("resourceclaims", o, "ns")
    src = DirClaimSource(store)
    refs = [
        ClaimRef(namespace="ns", name=o["metadata"]["name"], uid=ClaimUID(o["metadata"]["uid"]))
        for o in objs
    ]
    missing = ClaimRef(namespace="ns", name="nope", uid=ClaimUID("u"))
    got = await asyncio.gather(
        *(src.get_claim(r) for r in [*refs, missing]), return_exceptions=True
    )
    assert got[:-1] == objs
    assert isinstance(got[-1], ClaimNotFoundError)


@pytest.mark.parametrize(
    ("namespace", "name", "message"),
    [
        ("../../outside", "x", "namespace '../../outside' is not a DNS label"),
        ("default", "../../outside/x", "object name '../../outside/x' is not a DNS subdomain"),
        ("ns", "..", "object name '..' is not a DNS subdomain"),
        ("ns", "a/b", "object name 'a/b' is not a DNS subdomain"),
    ],
)
def test_names_that_could_leave_the_store_are_refused(
    tmp_path: Path, namespace: str, name: str, message: str
) -> None:
    store = DirStore(tmp_path / "store")
    planted = tmp_path / "outside" / "x.json"
    planted.parent.mkdir()
    planted.write_text('{"metadata": {"name": "x"}}')
    with pytest.raises(ConfigError, match=message):
        store.read("resourceclaims", name, namespace)
    with pytest.raises(ConfigError, match=message):
        store.find("resourceclaims", name, namespace)
    with pytest.raises(ConfigError, match=message):
        store.put("resourceclaims", {"metadata": {"name": name}}, namespace)
    assert not (tmp_path / "store").exists()


async def test_a_fifo_at_a_claims_path_is_an_error_not_a_hang(tmp_path: Path) -> None:
    import os

    store = DirStore(tmp_path)
    (tmp_path / "resourceclaims" / "ns").mkdir(parents=True)
    os.mkfifo(tmp_path / "resourceclaims" / "ns" / "c.json")  # nobody ever writes to it
    src = DirClaimSource(store)
    ref = ClaimRef(namespace="ns", name="c", uid=ClaimUID("u"))
    with pytest.raises(ClaimError, match=r"c\.json: cannot read: not a regular file"):
        await src.get_claim(ref)
