"""Production drivers built on the framework, one sub-package each, independent of each other.

A driver may import drafast.driver, drafast.types, drafast.config, drafast.errors,
drafast.runtime.batching and the native faces (drafast.state, drafast.cdi). Never grpc, kubernetes,
drafast.k8s, drafast.kubelet or drafast.plugin.
"""
