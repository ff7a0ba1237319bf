"""The public test kit for driver authors (and drafast's own tests).

* :func:`plugin_options` -- settings for a plugin confined to one temp dir, offline (``dir:``);
* :func:`running_plugin` -- start a plugin (built-in or your driver) on real Unix sockets and get
  a registered :class:`KubeletClient` that plays the kubelet against it;
* :func:`write_tree` -- build a fake sysfs/devfs tree from a mapping;
* :func:`allocated_claim` -- an allocated ResourceClaim object to put into the store;
* :func:`wait_until` -- poll a condition in async tests, failing with what was awaited;
* :func:`start_plugin` / :func:`start_file_plugin` -- ``drafast run <driver>`` as its own process
  (benchmarks, crash tests).

Fake CPU sysfs trees from a compact spec, with ready-made machine shapes (CPU driver):
:mod:`drafast.testing.sysfs`.

Benchmarking a driver's prepare (plugin process, claim generator, the kubelet's Go client):
:mod:`drafast.testing.bench`.

The real control plane and real node harnesses live in :mod:`drafast.testing.cluster`; the
in-memory API server in :mod:`drafast.testing.fakeapi`; an NRI runtime (containerd) stand-in for
``ContainerHooks`` drivers in :mod:`drafast.testing.nri`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from drafast.app.process import DriverProcess
from drafast.app.settings import RunOptions, offline_options
from drafast.driver import DriverKind, KubeletDriver
from drafast.k8s import DirStore, allocated_claim
from drafast.kubelet.client import KubeletClient
from drafast.testing.process import start_file_plugin, start_plugin
from drafast.types import JSON, ClaimRef, ClaimUID

T = TypeVar("T")

__all__ = [
    "KubeletClient",
    "PluginUnderTest",
    "allocated_claim",
    "claim_ref",
    "plugin_options",
    "running_plugin",
    "start_file_plugin",
    "start_plugin",
    "wait_until",
    "write_tree",
]


def plugin_options(root: Path, **kwargs: Any) -> RunOptions:
    """Options with every path under ``root`` (see :func:`drafast.app.settings.offline_options`);
    ``driver``, ``driver_name``, ``node_name`` and any RunOptions field can be given."""
    return offline_options(root, **kwargs)


@dataclass
class PluginUnderTest:
    plugin: DriverProcess
    kubelet: KubeletClient

    @property
    def store(self) -> DirStore:
        """The offline cluster store (``dir:`` mode only)."""
        cluster = self.plugin.opts.cluster
        if not cluster.startswith("dir:"):
            raise TypeError(f"the plugin runs with --cluster {cluster}, not a directory store")
        return DirStore(Path(cluster[4:]).absolute())

    def add_claim(self, obj: JSON) -> ClaimRef:
        """Put a ResourceClaim object into the store; return its reference."""
        ns = obj["metadata"]["namespace"]
        self.store.put("resourceclaims", obj, ns)
        return claim_ref(obj)


def claim_ref(obj: JSON) -> ClaimRef:
    m = obj["metadata"]
    return ClaimRef(namespace=m["namespace"], name=m["name"], uid=ClaimUID(m["uid"]))


@contextlib.asynccontextmanager
async def running_plugin(
    opts: RunOptions,
    driver: KubeletDriver | None = None,
    *,
    kind: DriverKind[Any] | None = None,
    register: bool = True,
) -> AsyncIterator[PluginUnderTest]:
    """Serve ``opts`` until the block ends, with the driver ``kind`` builds (default: the one
    ``opts.driver`` names; ``opts.driver_options`` are its settings by key) or a ``driver``
    object of your own (its ``name`` is the driver name unless ``opts.driver_name`` is set)."""
    plugin = DriverProcess(opts, driver, kind=kind)
    async with (
        plugin.running(),
        KubeletClient(registration_socket=plugin.server.paths.registration) as kubelet,
    ):
        if register:
            await kubelet.register()
        yield PluginUnderTest(plugin=plugin, kubelet=kubelet)


async def wait_until(what: str, probe: Callable[[], T | None], within: float = 60.0) -> T:
    """Poll ``probe`` every 0.2 s until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + within
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.2)
    return value


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Create ``root/<relative path>`` files with the given contents (for fake sysfs trees)."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root
