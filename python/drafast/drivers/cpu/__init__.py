"""The CPU driver: exclusive cpusets through DRA, pinning and a shared pool through NRI.

A drop-in for kubernetes-sigs/dra-driver-cpu: the same device names, attributes, capacity key,
``DRA_CPUSET_<claimUID>`` environment variable, config file and opaque claim config. Topology
comes from sysfs under an injectable host root; CPUs are packed by the native allocator
(``drafast._native.cpuset_*``, the kubelet static policy's algorithm); allocations are durable in
the core's checkpoint; containers are pinned through :class:`drafast.driver.ContainerHooks`.

Imports the contracts (drafast.driver, drafast.types, drafast.config, drafast.errors) and
drafast._native; never another driver, the plugin core, drafast.state or an edge.
"""
