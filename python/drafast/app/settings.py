"""Settings for ``drafast run``: flags win over environment variables, which win over the
optional YAML file (``--config``), which wins over the defaults.

:class:`RunOptions` holds the settings every driver shares; a driver's own settings are its
``KIND.settings`` dataclass. Both are described once with :func:`drafast.config.setting`, and
:mod:`drafast.app.schema` derives the flags, env names and YAML keys from them.
"""

from __future__ import annotations

import argparse
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from drafast.app import schema
from drafast.app.address import parse_bind_address
from drafast.config import (
    CDI_DIR,
    KUBELET_PLUGINS_DIR,
    KUBELET_REGISTRY_DIR,
    not_negative,
    positive,
    setting,
)
from drafast.driver import DriverKind
from drafast.errors import ConfigError
from drafast.resourceapi import names


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Role(enum.StrEnum):
    NODE = "node"
    CONTROLLER = "controller"


def _cluster_problem(value: str) -> str | None:
    if value == "kube" or (value.startswith("dir:") and len(value) > 4):
        return None
    return "expected 'kube' or 'dir:PATH' with a non-empty PATH"


def _bind_problem(value: str) -> str | None:
    if value == "":
        return None
    try:
        parse_bind_address(value)
    except ConfigError as err:
        return str(err)
    return None


NRI_SOCKET = "/var/run/nri/nri.sock"
"""containerd's default (``[plugins."io.containerd.nri.v1.nri"] socket_path``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """Everything ``drafast run <driver>`` needs, resolved and validated."""

    driver: str = "file"
    """The driver kind (``file``, ``nx``, an entry-point name or ``module:attr``)."""
    role: Role = setting(
        Role.NODE,
        flag="--role",
        env="DRAFAST_ROLE",
        help="node: DaemonSet kubelet plugin; controller: leader-elected Deployment",
    )
    driver_name: str = setting(
        "", flag="--driver-name", env="DRIVER_NAME", help="DRA driver name (default: the driver's)"
    )
    node_name: str = setting(
        "",
        flag="--node-name",
        env="NODE_NAME",
        help="this node's name",
        file_key="hostnameOverride",
    )
    plugin_dir: Path | None = setting(
        None,
        flag="--plugin-dir",
        env="PLUGIN_DIR",
        help="DRA socket + checkpoint dir (default: /var/lib/kubelet/plugins/<driver name>)",
    )
    registry_dir: Path = setting(
        KUBELET_REGISTRY_DIR,
        flag="--registry-dir",
        env="REGISTRY_DIR",
        help="kubelet plugin registry dir",
    )
    cdi_dir: Path = setting(CDI_DIR, flag="--cdi-dir", env="CDI_ROOT", help="CDI spec dir")
    cluster: str = setting(
        "kube",
        flag="--cluster",
        env="DRAFAST_CLUSTER",
        help="'kube' (the API server) or 'dir:PATH' (an offline object store)",
        check=_cluster_problem,
    )
    kubeconfig: Path | None = setting(
        None, flag="--kubeconfig", env="KUBECONFIG", help="kubeconfig (default: in-cluster)"
    )
    context: str | None = setting(
        None, flag="--context", env="KUBECONTEXT", help="kubeconfig context (default: current)"
    )
    pod_uid: str | None = setting(
        None, flag="--pod-uid", env="POD_UID", help="this pod's UID: rolling-update socket names"
    )
    log_format: LogFormat = setting(
        LogFormat.TEXT, flag="--log-format", env="LOG_FORMAT", help="log line format"
    )
    log_level: LogLevel = setting(
        LogLevel.INFO, flag="--log-level", env="LOG_LEVEL", help="least severe level logged"
    )
    serialize: bool = setting(
        False,
        flag="--serialize",
        env="SERIALIZE",
        help="handle one kubelet call at a time (the Go helper's default)",
    )
    resync_seconds: float = setting(
        30.0,
        flag="--resync-seconds",
        env="RESYNC_SECONDS",
        help="period of the full slice resync",
        check=positive,
    )
    memory_trim_idle_seconds: float = setting(
        1.0,
        flag="--memory-trim-idle-seconds",
        env="MEMORY_TRIM_IDLE_SECONDS",
        help="give freed heap memory back to the system this long after a burst of kubelet"
        " calls (glibc malloc_trim); 0 keeps it",
        check=not_negative,
    )
    health_poll_seconds: float = setting(
        5.0,
        flag="--health-poll-seconds",
        env="HEALTH_POLL_SECONDS",
        help="period of the device health check",
        check=positive,
    )
    grace_seconds: float = setting(
        5.0,
        flag="--grace-seconds",
        env="GRACE_SECONDS",
        help="shutdown grace for in-flight calls",
        check=not_negative,
    )
    bind_address: str = setting(
        ":8080",
        flag="--bind-address",
        env="BIND_ADDRESS",
        help="host:port or unix:/path of /livez, /readyz and /metrics ('' = off)",
        check=_bind_problem,
        file_key="bindAddress",
    )
    nri_socket: str = setting(
        NRI_SOCKET,
        flag="--nri-socket",
        env="NRI_SOCKET",
        metavar="PATH",
        help="the runtime's NRI socket, for drivers with container hooks (cpu) ('' = no NRI)",
    )
    lease_namespace: str = setting(
        "default",
        flag="--lease-namespace",
        env="POD_NAMESPACE",
        help="controller: namespace of the leader-election Lease",
    )
    lease_identity: str | None = setting(
        None,
        flag="--lease-identity",
        env="POD_NAME",
        help="controller: this replica's identity in the Lease (default: the host name)",
    )
    lease_duration_seconds: float = setting(
        15.0,
        flag="--lease-duration-seconds",
        env="LEASE_DURATION_SECONDS",
        help="controller: how long a Lease holds without renewal",
        check=positive,
    )
    renew_deadline_seconds: float = setting(
        10.0,
        flag="--renew-deadline-seconds",
        env="RENEW_DEADLINE_SECONDS",
        help="controller: the leader gives up if it cannot renew within this",
        check=positive,
    )
    retry_period_seconds: float = setting(
        2.0,
        flag="--retry-period-seconds",
        env="RETRY_PERIOD_SECONDS",
        help="controller: period of Lease renewals and acquisition attempts",
        check=positive,
    )
    driver_options: Mapping[str, Any] = field(default_factory=dict)
    """The driver's own settings by key (the flag without dashes), as given; converted by
    :func:`driver_settings`."""

    @property
    def plugin_path(self) -> Path:
        """The plugin dir (``/var/lib/kubelet/plugins/<driver name>`` unless set)."""
        return self.plugin_dir or KUBELET_PLUGINS_DIR / self.driver_name


def validate_driver_name(name: str) -> str:
    if not names.is_dns_subdomain(name, names.MAX_DRIVER_NAME):
        raise ConfigError(
            f"driver name {name!r}: must be a lower-case DNS subdomain of at most "
            f"{names.MAX_DRIVER_NAME} characters"
        )
    return name


def load_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    import yaml  # only with --config

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"config file {path}: cannot read: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


PEER_CONFIG_VERSION = "v1alpha1"
"""A config file may say ``apiVersion: v1alpha1``: the schema of kubernetes-sigs/dra-driver-cpu,
whose files the cpu driver reads as they are."""


def peer_file_keys(file: dict[str, Any], path: str | None, kind: DriverKind[Any]) -> dict[str, Any]:
    """The file with a peer's keys renamed to ours (both spellings of one key: an error)."""
    version = file.pop("apiVersion", PEER_CONFIG_VERSION)
    if version != PEER_CONFIG_VERSION:
        raise ConfigError(
            f"config file {path}: apiVersion {version!r}: only {PEER_CONFIG_VERSION} is read"
        )
    aliases = schema.file_aliases(RunOptions) | schema.file_aliases(kind.settings)
    out = {}
    for key, value in file.items():
        ours = aliases.get(key, key)
        if ours in out:
            raise ConfigError(f"config file {path}: {key} and {ours} set the same setting")
        out[ours] = value
    return out


def resolve(args: argparse.Namespace, env: Mapping[str, str], kind: DriverKind[Any]) -> RunOptions:
    """Flags (``args``), env and the ``--config`` file -> checked :class:`RunOptions`."""
    path = getattr(args, "config", None) or env.get("DRAFAST_CONFIG") or None
    file = peer_file_keys(load_file(path), path, kind)
    unknown = sorted(set(file) - schema.file_keys(RunOptions) - schema.file_keys(kind.settings))
    if unknown:
        raise ConfigError(f"config file {path}: unknown settings {', '.join(unknown)}")
    flags = vars(args)
    opts: RunOptions = schema.build(
        RunOptions, flags, env, file, driver=getattr(args, "driver", kind.name)
    )
    if not opts.driver_name:
        opts = replace(opts, driver_name=kind.default_driver_name)
    validate_driver_name(opts.driver_name)
    opts = replace(opts, plugin_dir=opts.plugin_path)
    if opts.role not in kind.roles:
        roles = ", ".join(kind.roles)
        raise ConfigError(f"--role {opts.role}: driver {kind.name} runs only as {roles}")
    if opts.role is Role.NODE and not opts.node_name:
        raise ConfigError("node name is required: pass --node-name or set NODE_NAME")
    driver_options = {s.key: raw for s, raw in schema.pick(kind.settings, flags, env, file)}
    return replace(opts, driver_options={k: v for k, v in driver_options.items() if v is not None})


def driver_settings(opts: RunOptions, kind: DriverKind[Any]) -> Any:
    """The driver's settings dataclass from ``opts.driver_options``, converted and checked
    (when the process is built, before anything starts)."""
    return schema.build(kind.settings, opts.driver_options, {}, {})


def offline_options(
    root: Path,
    *,
    driver: str = "file",
    driver_name: str = "",
    node_name: str = "node-1",
    **overrides: Any,
) -> RunOptions:
    """A plugin confined to ``root``: sockets, checkpoint, CDI dir and a ``dir:`` cluster store
    all under it (the demo and the test kit). An empty ``driver_name`` means the driver's own.
    ``overrides`` replace any field."""
    opts = RunOptions(
        driver=driver,
        driver_name=driver_name,
        node_name=node_name,
        registry_dir=root / "registry",  # short: socket paths have a 107-byte limit
        cdi_dir=root / "cdi",
        cluster=f"dir:{root / 'cluster'}",
        resync_seconds=3600.0,
        health_poll_seconds=3600.0,
        grace_seconds=2.0,
        bind_address="127.0.0.1:0",
        nri_socket="",  # no runtime here; a test gives the NRI stand-in's socket
        driver_options={"resource_dir": str(root / "files")},
    )
    opts = replace(opts, **overrides)
    if opts.plugin_dir is None:
        opts = replace(opts, plugin_dir=root / "plugins" / (opts.driver_name or opts.driver))
    return opts
