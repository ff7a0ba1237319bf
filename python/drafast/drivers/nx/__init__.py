"""The NX-gzip driver: IBM Power compression accelerators (PowerVM LPARs and PowerNV machines).

The native probe (``drafast._native.nx_probe``) finds the accelerator under an injectable host
root; the driver publishes it with its capabilities and credits, exclusive by default or shared
with consumable credits, and prepares claims as the ``/dev/crypto/nx-gzip`` device node plus
environment from the strict opaque ``NxConfig``.

Imports the contracts (drafast.driver, drafast.types, drafast.config, drafast.errors) and
drafast._native; never another driver, the plugin core, drafast.state or an edge.
"""

from __future__ import annotations

from drafast.driver import DriverContext, DriverKind
from drafast.drivers.nx.config import API_VERSION, CONFIG_KIND, NxConfig, parse_config
from drafast.drivers.nx.driver import DEFAULT_DRIVER_NAME, NxDriver
from drafast.drivers.nx.inventory import DEVICE_PATH, Sharing
from drafast.drivers.nx.settings import NxDriverSettings
from drafast.errors import ConfigError


def build(settings: NxDriverSettings, ctx: DriverContext) -> NxDriver:
    if ctx.node_name is None:
        raise ConfigError("the nx driver runs only as a node plugin (--role node)")
    return NxDriver(settings, node_name=ctx.node_name, driver_name=ctx.driver_name)


KIND = DriverKind(
    name="nx",
    default_driver_name=DEFAULT_DRIVER_NAME,
    settings=NxDriverSettings,
    build=build,
    description="IBM Power NX-gzip compression accelerators",
)

__all__ = [
    "API_VERSION",
    "CONFIG_KIND",
    "DEFAULT_DRIVER_NAME",
    "DEVICE_PATH",
    "KIND",
    "NxConfig",
    "NxDriver",
    "NxDriverSettings",
    "Sharing",
    "parse_config",
]
