"""Settings for ``drafast run``: flags win over environment variables, which win over the
optional YAML file (``--config``), which wins over the defaults."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from drafast.config import CDI_DIR, KUBELET_PLUGINS_DIR, KUBELET_REGISTRY_DIR
from drafast.errors import ConfigError

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# option name -> environment variable
ENV = {
    "driver_name": "DRIVER_NAME",
    "node_name": "NODE_NAME",
    "plugin_dir": "PLUGIN_DIR",
    "registry_dir": "REGISTRY_DIR",
    "cdi_dir": "CDI_ROOT",
    "cluster": "DRAFAST_CLUSTER",
    "kubeconfig": "KUBECONFIG",
    "context": "KUBECONTEXT",
    "pod_uid": "POD_UID",
    "log_format": "LOG_FORMAT",
    "log_level": "LOG_LEVEL",
    "resource_dir": "RESOURCE_DIR",
    "bind_address": "BIND_ADDRESS",
    "shared_files": "SHARED_FILES",
    "host_root": "HOST_ROOT",
    "nx_sharing": "NX_SHARING",
    "nx_max_shares": "NX_MAX_SHARES",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """Everything ``drafast run <driver>`` needs, resolved and validated."""

    driver: str
    driver_name: str
    node_name: str
    plugin_dir: Path
    registry_dir: Path
    cdi_dir: Path
    cluster: str
    kubeconfig: Path | None
    pod_uid: str | None
    context: str | None = None
    """The kubeconfig context (None: its current-context)."""
    log_format: str
    log_level: str
    serialize: bool
    resync_seconds: float
    health_poll_seconds: float
    grace_seconds: float
    bind_address: str = ":8080"
    """``host:port`` of /healthz and /metrics; empty disables them."""
    driver_options: Mapping[str, Any] = field(default_factory=dict)


def validate_driver_name(name: str) -> str:
    if len(name) > 63 or not _DNS_SUBDOMAIN.match(name):
        raise ConfigError(
            f"driver name {name!r}: must be a lower-case DNS subdomain of at most 63 characters"
        )
    return name


def _load_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"config file {path}: cannot read: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def resolve(
    args: argparse.Namespace, env: Mapping[str, str], default_driver_name: str
) -> RunOptions:
    file = _load_file(getattr(args, "config", None))
    known = set(RunOptions.__dataclass_fields__)
    known |= {"resource_dir", "durable_writes", "shared_files"}
    known |= {"host_root", "nx_sharing", "nx_max_shares"}
    unknown = sorted(set(file) - known)
    if unknown:
        raise ConfigError(f"config file {args.config}: unknown settings {', '.join(unknown)}")

    def pick(name: str, default: Any = None) -> Any:
        value = getattr(args, name, None)
        if value is not None:
            return value
        if name in ENV and env.get(ENV[name]):
            return env[ENV[name]]
        return file.get(name, default)

    driver_name = validate_driver_name(str(pick("driver_name", default_driver_name)))
    node_name = pick("node_name")
    if not node_name:
        raise ConfigError("node name is required: pass --node-name or set NODE_NAME")
    log_format = str(pick("log_format", "text"))
    if log_format not in ("text", "json"):
        raise ConfigError(f"log format {log_format!r}: expected text or json")
    kubeconfig = pick("kubeconfig")
    return RunOptions(
        driver=args.driver,
        driver_name=driver_name,
        node_name=str(node_name),
        plugin_dir=Path(pick("plugin_dir", KUBELET_PLUGINS_DIR / driver_name)).absolute(),
        registry_dir=Path(pick("registry_dir", KUBELET_REGISTRY_DIR)).absolute(),
        cdi_dir=Path(pick("cdi_dir", CDI_DIR)).absolute(),
        cluster=str(pick("cluster", "kube")),
        kubeconfig=Path(kubeconfig) if kubeconfig else None,
        context=pick("context") or None,
        pod_uid=pick("pod_uid") or None,
        log_format=log_format,
        log_level=str(pick("log_level", "info")),
        serialize=bool(pick("serialize", False)),
        resync_seconds=float(pick("resync_seconds", 30.0)),
        health_poll_seconds=float(pick("health_poll_seconds", 5.0)),
        grace_seconds=float(pick("grace_seconds", 5.0)),
        bind_address=str(pick("bind_address", ":8080")),
        driver_options={
            "resource_dir": pick("resource_dir"),
            "durable_writes": pick("durable_writes", False),
            "shared_files": pick("shared_files", False),
            "host_root": pick("host_root"),
            "nx_sharing": pick("nx_sharing"),
            "nx_max_shares": pick("nx_max_shares"),
        },
    )


def offline_options(
    root: Path,
    *,
    driver: str = "file",
    driver_name: str = "file.drafast.dev",
    node_name: str = "node-1",
    **overrides: Any,
) -> RunOptions:
    """A plugin confined to ``root``: sockets, checkpoint, CDI dir and a ``dir:`` cluster store
    all under it (the demo and the test kit). ``overrides`` replace any field."""
    opts = RunOptions(
        driver=driver,
        driver_name=driver_name,
        node_name=node_name,
        plugin_dir=root / "plugins" / driver_name,
        registry_dir=root / "plugins_registry",
        cdi_dir=root / "cdi",
        cluster=f"dir:{root / 'cluster'}",
        kubeconfig=None,
        pod_uid=None,
        log_format="text",
        log_level="info",
        serialize=False,
        resync_seconds=3600.0,
        health_poll_seconds=3600.0,
        grace_seconds=2.0,
        bind_address="127.0.0.1:0",
        driver_options={"resource_dir": str(root / "files")},
    )
    return replace(opts, **overrides)
