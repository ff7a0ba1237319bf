"""What an adversarial run against ``drafast run file`` in ``dir:`` mode found, each over the real
sockets: path traversal, a failed checkpoint write, a FIFO at a claim's path, wrong types in a
claim, undecodable bodies, huge names."""

import json
import os
import subprocess
from pathlib import Path

import grpc
import grpc.aio
import pytest

from drafast.app.settings import RunOptions
from drafast.kubelet.methods import DRA_V1_SERVICE, PREPARE
from drafast.testing import allocated_claim, running_plugin
from drafast.types import ClaimRef, ClaimUID

pytestmark = pytest.mark.integration
DRIVER = "file.drafast.dev"


def claim(name: str, namespace: str = "ns", **kw):  # type: ignore[no-untyped-def]
    return allocated_claim(
        namespace=namespace,
        name=name,
        driver=DRIVER,
        devices=[("r", "node-1", "alpha")],
        pods=[f"pod-{name}"],
        **kw,
    )


def chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True)


def lines(opts: RunOptions) -> list[str]:
    return (Path(opts.driver_options["resource_dir"]) / "alpha").read_text().splitlines()


async def test_path_traversal_is_refused_and_writes_nothing(opts: RunOptions) -> None:
    root = Path(opts.cluster[4:])
    planted = root.parent / "outside" / "x.json"  # <root>/../outside/x.json
    obj = claim("x")
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(json.dumps(obj))
    async with running_plugin(opts) as t:
        uid = ClaimUID(obj["metadata"]["uid"])
        for ns, name in (("../../outside", "x"), ("default", "../../outside/x"), ("..", "x")):
            ref = ClaimRef(namespace=ns, name=name, uid=uid)
            res = (await t.kubelet.prepare([ref]))[uid]
            assert "is not a DNS" in res.error, res.error
        assert "claim=" not in "".join(lines(opts))
        assert not t.plugin.cdi.path(uid).exists()


async def test_a_failed_checkpoint_write_leaves_no_line_behind(opts: RunOptions) -> None:
    """The plugin dir made immutable (as root, like the plugin itself): the commit fails."""
    async with running_plugin(opts) as t:
        ref = t.add_claim(claim("c1"))
        plugin_dir = t.plugin.store.path.parent
        chattr("+i", plugin_dir)
        try:
            res = (await t.kubelet.prepare([ref]))[ref.uid]
            assert "checkpoint.json" in res.error and "Operation not permitted" in res.error
            assert lines(opts) == []  # the core rolled the driver back before answering
            assert not t.plugin.cdi.path(ref.uid).exists()
        finally:
            chattr("-i", plugin_dir)
        assert (await t.kubelet.prepare([ref]))[ref.uid].error == ""  # the kubelet's retry
        assert lines(opts) == [f"ns/pod-c1 claim={ref.uid}"]
        assert (await t.kubelet.unprepare([ref]))[ref.uid].error == ""
        assert lines(opts) == []


async def test_a_fifo_at_a_claims_path_fails_that_claim_only(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        fifo = Path(opts.cluster[4:]) / "resourceclaims" / "ns" / "stuck.json"
        fifo.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(fifo)
        good = t.add_claim(claim("good"))
        stuck = ClaimRef(namespace="ns", name="stuck", uid=ClaimUID("u-stuck"))
        res = await t.kubelet.prepare([stuck, good])
        assert "stuck.json: cannot read: not a regular file" in res[stuck.uid].error
        assert res[good.uid].error == ""
        assert (await t.kubelet.get_info()).name == DRIVER  # registration still answers


async def test_wrong_types_in_a_claim_are_named_and_nothing_is_prepared(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        cases = {
            "share": lambda r: r.update(shareID=5),
            "admin": lambda r: r.update(adminAccess="false"),
        }
        for name, spoil in cases.items():
            obj = claim(name)
            spoil(obj["status"]["allocation"]["devices"]["results"][0])
            ref = t.add_claim(obj)
            res = (await t.kubelet.prepare([ref]))[ref.uid]
            assert "results[0]" in res.error, res.error
            assert ref.uid not in t.plugin.store
        obj = claim("empty")
        obj["status"]["allocation"]["devices"] = []
        ref = t.add_claim(obj)
        res = (await t.kubelet.prepare([ref]))[ref.uid]
        assert "status.allocation.devices is not an object" in res.error
        assert lines(opts) == []


async def test_an_undecodable_body_is_invalid_argument(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        target = f"unix:{t.plugin.server.paths.dra}"
        async with grpc.aio.insecure_channel(target) as channel:
            call = channel.unary_unary(
                f"/{DRA_V1_SERVICE}/{PREPARE}",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(b"\x0a\x05\xff", timeout=10)  # claims: 5 bytes promised, 1 sent
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "not a NodePrepareResourcesRequest" in (err.value.details() or "")


async def test_a_huge_name_gives_a_bounded_error(opts: RunOptions) -> None:
    async with running_plugin(opts) as t:
        ref = ClaimRef(namespace="ns", name="n" * (1 << 20), uid=ClaimUID("u-huge"))
        res = (await t.kubelet.prepare([ref]))[ref.uid]
        assert "is not a DNS subdomain" in res.error and len(res.error) < 1000
