"""The NRI edge: a plugin for the container runtime (containerd) over the NRI socket.

The multiplexed trunk, ttrpc and the NRI protos live here and nowhere else; the edge turns
runtime events into calls of a :class:`drafast.driver.ContainerHooks` in runtime-neutral types.
Imports the contracts, drafast.types, drafast.runtime and drafast.errors; never a driver or the
plugin core.
"""
