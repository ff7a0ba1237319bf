"""The file driver behind the real plugin core, over real gRPC on real Unix sockets."""

import asyncio
from pathlib import Path

import orjson
import pytest

from drafast.app.process import DriverProcess
from drafast.app.settings import RunOptions
from drafast.errors import CheckpointError, ConfigError, SocketError
from drafast.testing import allocated_claim, running_plugin
from drafast.types import ClaimRef, ClaimUID

pytestmark = pytest.mark.integration
DRIVER = "file.drafast.dev"


def claim(name: str, device: str = "alpha", pods: tuple[str, ...] = ("pod-a",), **kw):  # type: ignore[no-untyped-def]
    return allocated_claim(
        namespace="ns",
        name=name,
        driver=DRIVER,
        devices=[("req", "node-1", device)],
        pods=pods,
        **kw,
    )


def lines(opts: RunOptions, name: str) -> list[str]:
    return (Path(opts.driver_options["resource_dir"]) / name).read_text().splitlines()


async def test_publishes_one_device_per_file(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        slices = [o for _, o in t.store.list("resourceslices")]
        assert len(slices) == 1
        spec = slices[0]["spec"]
        assert spec["nodeName"] == "node-1" and spec["pool"]["name"] == "node-1"
        names = sorted(d["name"] for d in spec["devices"])
        assert names[:2] == ["alpha", "beta"] and names[2].startswith("notes-txt-")
        alpha = next(d for d in spec["devices"] if d["name"] == "alpha")
        assert alpha["attributes"]["type"] == {"string": "file"}
        assert alpha["attributes"]["filename"] == {"string": "alpha"}


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
async def test_prepare_and_unprepare(opts: RunOptions, version: str) -> None:
    async with running_plugin(opts) as t:
        ref = t.add_claim(claim("c1", pods=("pod-a", "pod-b")))
        res = (await t.kubelet.prepare([ref], version))[ref.uid]  # type: ignore[arg-type]
        assert res.error == ""
        [dev] = res.devices
        assert (dev.pool, dev.device, dev.request_names) == ("node-1", "alpha", ("req",))
        assert dev.cdi_device_ids == (f"k8s.{DRIVER}/file={ref.uid}-alpha",)
        spec_file = opts.cdi_dir / f"k8s.{DRIVER}-file_{ref.uid}.json"
        spec = orjson.loads(spec_file.read_bytes())
        assert spec["kind"] == f"k8s.{DRIVER}/file"
        # a device name starting with a digit (the claim UID) needs CDI 0.5.0
        assert spec["cdiVersion"] == ("0.5.0" if ref.uid[0].isdigit() else "0.3.0")
        path = str(Path(opts.driver_options["resource_dir"]) / "alpha")
        assert spec["devices"][0]["containerEdits"]["mounts"] == [
            {"hostPath": path, "containerPath": path, "options": ["ro", "bind"]}
        ]
        assert lines(opts, "alpha") == [f"ns/pod-a claim={ref.uid}", f"ns/pod-b claim={ref.uid}"]

        un = await t.kubelet.unprepare([ref], version)  # type: ignore[arg-type]
        assert un[ref.uid].error == ""
        assert not spec_file.exists()
        assert lines(opts, "alpha") == []
        assert len(t.plugin.store) == 0


async def test_prepare_is_idempotent_and_rewrites_a_lost_cdi_spec(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        ref = t.add_claim(claim("c1"))
        first = await t.kubelet.prepare([ref])
        spec_file = t.plugin.cdi.path(ref.uid)
        before = spec_file.read_bytes()
        spec_file.unlink()  # /var/run/cdi is tmpfs: a reboot wipes it, the checkpoint survives
        t.store.delete("resourceclaims", "c1", "ns")  # a hit does not even need the API
        assert await t.kubelet.prepare([ref]) == first
        assert spec_file.read_bytes() == before
        assert lines(opts, "alpha") == [f"ns/pod-a claim={ref.uid}"]


async def test_unprepare_of_unknown_claim_succeeds(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        ref = ClaimRef(namespace="ns", name="never", uid=ClaimUID("0000-never"))
        assert (await t.kubelet.unprepare([ref]))[ref.uid].error == ""


async def test_bad_claims_get_per_claim_errors_and_good_ones_succeed(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        good = t.add_claim(claim("good"))
        missing = ClaimRef(namespace="ns", name="missing", uid=ClaimUID("u-missing"))
        replaced = ClaimRef(namespace="ns", name="good-copy", uid=ClaimUID("u-old"))
        t.store.put("resourceclaims", claim("good-copy"), "ns")
        unalloc_obj = claim("unalloc")
        del unalloc_obj["status"]["allocation"]
        unalloc = t.add_claim(unalloc_obj)
        other_obj = allocated_claim(
            namespace="ns",
            name="other",
            driver="gpu.example.com",
            devices=[("r", "node-1", "gpu-0")],
        )
        other = t.add_claim(other_obj)
        nodev = t.add_claim(claim("nodev", device="no-such-file"))
        empty = ClaimRef(namespace="ns", name="empty", uid=ClaimUID(""))
        dup_conflict = ClaimRef(namespace="ns", name="imposter", uid=good.uid)

        res = await t.kubelet.prepare([good, missing, replaced, unalloc, other, nodev, empty])
        assert set(res) == {
            good.uid,
            missing.uid,
            replaced.uid,
            unalloc.uid,
            other.uid,
            nodev.uid,
            "",
        }
        assert res[good.uid].error == ""
        assert res[missing.uid].error == "claim ns/missing (u-missing): not found in " + str(
            t.store.root
        )
        assert (
            "UID mismatch" in res[replaced.uid].error and "ns/good-copy" in res[replaced.uid].error
        )
        assert res[unalloc.uid].error == f"claim ns/unalloc ({unalloc.uid}): not allocated"
        assert "only to other drivers (gpu.example.com)" in res[other.uid].error
        assert "device no-such-file has no file" in res[nodev.uid].error
        assert "empty claim UID" in res[""].error

        # duplicates: the same claim twice is one entry; a UID under two names is an error
        res = await t.kubelet.prepare([good, good])
        assert list(res) == [good.uid] and res[good.uid].error == ""
        res = await t.kubelet.prepare([good, dup_conflict])
        assert "the same UID is also requested as claim ns/good" in res[good.uid].error

        # the plugin still serves and lost nothing
        assert t.plugin.store.get(good.uid) is not None
        assert lines(opts, "alpha") == [f"ns/pod-a claim={good.uid}"]


async def test_ten_thousand_claims_in_one_request(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        refs = [
            ClaimRef(namespace="ns", name=f"c{i}", uid=ClaimUID(f"u{i}")) for i in range(10_000)
        ]
        res = await t.kubelet.prepare(refs)
        assert len(res) == 10_000
        assert all(
            "request carries 10000 claims, more than the limit of 1024" in r.error
            for r in res.values()
        )
        ok = t.add_claim(claim("after"))
        assert (await t.kubelet.prepare([ok]))[ok.uid].error == ""


async def test_concurrent_claims_on_one_file_and_group_commit(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        refs = [t.add_claim(claim(f"c{i}", pods=(f"p{i}",))) for i in range(64)]
        commits_before = t.plugin.store.commits
        results = await asyncio.gather(*(t.kubelet.prepare([r]) for r in refs))
        assert all(res[r.uid].error == "" for r, res in zip(refs, results, strict=True))
        assert sorted(lines(opts, "alpha")) == sorted(
            f"ns/p{i} claim={r.uid}" for i, r in enumerate(refs)
        )
        commits = t.plugin.store.commits - commits_before
        assert commits < 64, f"{commits} durable writes for 64 concurrent claims: no group commit"
        # /metrics tells an operator the same: how many commits, how many claims each carried.
        sample = t.plugin.metrics.registry.get_sample_value
        labels = {"driver": t.plugin.opts.driver_name}
        assert commits_before == 0
        assert sample("drafast_checkpoint_commit_claims_count", labels) == commits
        assert sample("drafast_checkpoint_commit_claims_sum", labels) == 64
        assert sample("drafast_checkpoint_commit_duration_seconds_count", labels) == commits
        assert (sample("drafast_checkpoint_commit_duration_seconds_sum", labels) or 0) > 0
        await asyncio.gather(*(t.kubelet.unprepare([r]) for r in refs[::2]))
        assert sorted(lines(opts, "alpha")) == sorted(
            f"ns/p{i} claim={r.uid}" for i, r in enumerate(refs) if i % 2
        )


async def test_restart_keeps_prepared_claims(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        ref = t.add_claim(claim("c1"))
        first = await t.kubelet.prepare([ref])
    async with running_plugin(opts) as t:  # a new process would read the same checkpoint
        assert await t.kubelet.prepare([ref]) == first
        assert (await t.kubelet.unprepare([ref]))[ref.uid].error == ""
        assert lines(opts, "alpha") == []


async def test_corrupted_checkpoint_refuses_to_start(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        await t.kubelet.prepare([t.add_claim(claim("c1"))])
    journal = opts.plugin_dir / "checkpoint.json.journal"  # the commit's entry
    data = bytearray(journal.read_bytes())
    data[-5] ^= 0x55
    journal.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"{journal}: entry at byte 0: checksum mismatch"):
        DriverProcess(opts)
    assert journal.read_bytes() == bytes(data)  # nothing overwritten: the operator can inspect it


async def test_a_missing_resource_dir_fails_the_start(opts: RunOptions) -> None:
    missing = replace_resource_dir(opts, "/nonexistent/drafast-files")
    with pytest.raises(ConfigError, match="--resource-dir /nonexistent/drafast-files: not a dir"):
        async with running_plugin(missing):
            pass
    assert not list(missing.registry_dir.glob("*.sock"))  # nothing left behind


async def test_a_resource_dir_that_vanishes_keeps_serving(opts: RunOptions) -> None:
    files = Path(opts.driver_options["resource_dir"])
    async with running_plugin(opts) as t:
        files.rename(files.with_name("moved"))  # noqa: ASYNC240 (a test step)
        ref = t.add_claim(claim("c1", device="new-file"))
        res = (await t.kubelet.prepare([ref]))[ref.uid]
        assert f"resource dir {files}: cannot list" in res.error
        assert (await t.kubelet.unprepare([ref]))[ref.uid].error == ""


def replace_resource_dir(opts: RunOptions, path: str) -> RunOptions:
    from dataclasses import replace

    return replace(opts, driver_options={**opts.driver_options, "resource_dir": path})


async def test_socket_path_too_long(tmp_path: Path, opts: RunOptions) -> None:
    from dataclasses import replace

    deep = tmp_path / ("d" * 100)
    with pytest.raises(SocketError, match="107"):
        async with running_plugin(replace(opts, plugin_dir=deep)):
            pass


def test_invalid_driver_name() -> None:
    import argparse

    from drafast.app.settings import resolve
    from drafast.drivers.file import KIND

    args = argparse.Namespace(driver="file", driver_name="Bad_Name", node_name="n")
    with pytest.raises(ConfigError, match="driver name 'Bad_Name': must be a lower-case DNS"):
        resolve(args, {}, KIND)


async def test_health_stream(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        async for message in t.kubelet.watch_health("v1"):
            devices = {r.health.device: r.health.health.name for r in message}
            assert devices["alpha"] == "HEALTHY" and len(devices) == 3
            break


async def test_restart_restores_file_contents_from_the_checkpoint(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        ref = t.add_claim(claim("c1", pods=("pod-a",)))
        await t.kubelet.prepare([ref])
    # what a power loss can leave: the rewrite was not durable, a half-done claim's line remains
    alpha = Path(opts.driver_options["resource_dir"]) / "alpha"
    alpha.write_text("kept user line\nns/ghost claim=never-checkpointed\n")
    async with running_plugin(opts) as t:
        assert lines(opts, "alpha") == ["kept user line", f"ns/pod-a claim={ref.uid}"]
        assert (await t.kubelet.unprepare([ref]))[ref.uid].error == ""
        assert lines(opts, "alpha") == ["kept user line"]


async def test_shared_files_let_separate_claims_use_one_file(opts: RunOptions) -> None:
    from dataclasses import replace

    shared = replace(opts, driver_options={**opts.driver_options, "shared_files": True})
    async with running_plugin(shared) as t:
        [sl] = [o for _, o in t.store.list("resourceslices")]
        assert all(d["allowMultipleAllocations"] for d in sl["spec"]["devices"])
        refs = []
        for name in ("c1", "c2"):
            obj = claim(name, pods=(f"pod-{name}",))
            obj["status"]["allocation"]["devices"]["results"][0]["shareID"] = f"share-{name}"
            refs.append(t.add_claim(obj))
        res = await t.kubelet.prepare(refs)
        for ref in refs:
            [dev] = res[ref.uid].devices
            assert dev.share_id == f"share-{ref.name}"
            assert dev.cdi_device_ids == (f"k8s.{DRIVER}/file={ref.uid}-alpha-share-{ref.name}",)
            spec = orjson.loads(t.plugin.cdi.path(ref.uid).read_bytes())
            path = Path(opts.driver_options["resource_dir"]) / "alpha"
            assert spec["devices"][0]["containerEdits"]["env"] == [f"DRAFAST_FILE_ALPHA={path}"]
        assert sorted(lines(opts, "alpha")) == sorted(
            f"ns/pod-{r.name} claim={r.uid}" for r in refs
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda doc: doc["state"].update(v=2), "file driver state version 2"),
        (lambda doc: doc["state"].update(files=5), "files must be a list of strings"),
        (lambda doc: doc.update(v=2), "unsupported record version 2"),
    ],
)
async def test_a_record_this_version_cannot_read_stops_the_start(
    opts: RunOptions,
    change,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    """What a rollback after an upgrade looks like: a checksum-valid record of a newer version."""
    from drafast import _native

    async with running_plugin(opts) as t:
        ref = t.add_claim(claim("c1"))
        await t.kubelet.prepare([ref])
        path = t.plugin.store.path
    ckpt = _native.Checkpoint(str(path))
    doc = orjson.loads(ckpt.get(ref.uid) or b"")
    change(doc)
    ckpt.commit([(ref.uid, orjson.dumps(doc))], [])
    with pytest.raises(CheckpointError, match=message) as err:
        async with running_plugin(opts):
            pass
    assert str(path) in str(err.value)
    assert not list(opts.registry_dir.glob("*.sock"))
