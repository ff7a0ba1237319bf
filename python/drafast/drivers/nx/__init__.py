"""The NX-gzip driver: IBM Power compression accelerators (PowerVM LPARs and PowerNV machines).

The native probe (``drafast._native.nx_probe``) finds the accelerator under an injectable host
root; the driver publishes it with its capabilities and credits, exclusive by default or shared
with consumable credits, and prepares claims as the ``/dev/crypto/nx-gzip`` device node plus
environment from the strict opaque ``NxConfig``.

Imports drafast.driver's contracts' types, errors, drafast.state (to read the checkpoint) and
drafast._native; never another driver, grpc, kubernetes or the plugin core.
"""

from drafast.drivers.nx.config import API_VERSION, KIND, NxConfig, parse_config
from drafast.drivers.nx.driver import DEFAULT_DRIVER_NAME, NxDriver, NxDriverSettings
from drafast.drivers.nx.inventory import DEVICE_PATH, Sharing

__all__ = [
    "API_VERSION",
    "DEFAULT_DRIVER_NAME",
    "DEVICE_PATH",
    "KIND",
    "NxConfig",
    "NxDriver",
    "NxDriverSettings",
    "Sharing",
    "parse_config",
]
