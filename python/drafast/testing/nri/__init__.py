"""An NRI runtime stand-in for plugin tests: :class:`NriRuntime` plays containerd (NRI 0.8.0 or
0.6.1) over a real Unix socket, holds pods and containers, drives container events and applies
the plugin's answers like the runtime does, with the runtime's limits and failure modes::

    async with NriRuntime(tmp_path / "nri.sock") as rt:
        rt.add_container("pod-a", "old", cpus="0-7")      # carried by the Synchronize
        plugin = NriPlugin(rt.socket, name="cpu", index="10", hooks=my_hooks)
        task = asyncio.create_task(plugin.run())
        await rt.wait_synchronized()
        ctr = await rt.create_container("pod-a", "app", env={"DRA_CPUSET_x": "2-3"})
        assert ctr.cpus == "2-3"
"""

from drafast.testing.nri.runtime import Flavor, NriRuntime, PluginRefusedError
from drafast.testing.nri.store import RuntimeContainer, RuntimePod

__all__ = ["Flavor", "NriRuntime", "PluginRefusedError", "RuntimeContainer", "RuntimePod"]
