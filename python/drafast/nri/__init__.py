"""The NRI edge: a plugin for the container runtime (containerd) over the NRI socket.

The multiplexed trunk, ttrpc and the NRI protos live here and nowhere else; the edge turns
runtime events into calls of a :class:`drafast.driver.ContainerHooks` in runtime-neutral types.
Imports the contracts, drafast.types, drafast.runtime and drafast.errors; never a driver or the
plugin core.

Modules, top to bottom (an import-linter contract keeps the order): ``plugin`` (the session
loop and event dispatch), ``convert`` and ``names`` (protos <-> drafast.types, the wire's
vocabulary), ``ttrpc`` (unary client and server over one logical conn), ``mux`` (the trunk),
``proto`` (generated).
"""

from drafast.nri.plugin import NriPlugin, NriStatus

__all__ = ["NriPlugin", "NriStatus"]
