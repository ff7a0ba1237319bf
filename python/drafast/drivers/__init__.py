"""Production drivers built on the framework, one sub-package each, independent of each other;
each exports ``KIND`` (a :class:`drafast.driver.DriverKind`: settings schema, builder, roles).

A driver may import the contracts (drafast.driver, drafast.types, drafast.config,
drafast.errors), drafast.resourceapi, drafast.runtime and drafast.cdi. Never grpc, kubernetes,
drafast.k8s, drafast.kubelet, drafast.plugin or drafast.state: the core owns the checkpoint and
rollback (checked by import-linter).
"""
