"""The framework core: claim checks, per-claim locking, idempotency, rollback, results, health.

May import drafast.driver, drafast.types, drafast.config, drafast.resourceapi, drafast.runtime,
drafast.errors, drafast.state and drafast.cdi. Never imports grpc, kubernetes, drafast.k8s,
drafast.kubelet or any driver: the concrete ClaimSource and Driver are handed in by drafast.app.
"""

from drafast.plugin.core import PluginCore
from drafast.plugin.health import HealthBoard
from drafast.plugin.results import DeviceResult, PrepareResult, UnprepareResult

__all__ = ["DeviceResult", "HealthBoard", "PluginCore", "PrepareResult", "UnprepareResult"]
