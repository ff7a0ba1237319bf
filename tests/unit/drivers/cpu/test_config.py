from typing import Any

import pytest

from drafast.drivers.cpu import API_VERSION, CpuConfig, parse_config
from drafast.errors import ConfigError


def test_the_peers_machine_mode_shape() -> None:
    cfg = parse_config({"apiVersion": "v1alpha1", "cpuConfig": {"cpuset": "2-5"}})
    assert cfg == CpuConfig(cpuset=frozenset({2, 3, 4, 5}))


def test_options_and_defaults() -> None:
    assert parse_config({"apiVersion": API_VERSION}) == CpuConfig()
    cfg = parse_config(
        {"apiVersion": API_VERSION, "cpuConfig": {"fullCores": True, "spreadNUMA": False}}
    )
    assert (cfg.cpuset, cfg.full_cores, cfg.spread_numa) == (None, True, False)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "apiVersion: expected v1alpha1, got missing"),
        ({"apiVersion": "v1"}, "apiVersion: expected v1alpha1, got 'v1'"),
        ({"apiVersion": API_VERSION, "extra": 1}, "config.extra: unknown field"),
        ({"apiVersion": API_VERSION, "cpuConfig": {"cpus": "1"}}, "cpuConfig.cpus: unknown"),
        ({"apiVersion": API_VERSION, "cpuConfig": []}, "cpuConfig: expected an object"),
        ({"apiVersion": API_VERSION, "cpuConfig": {"cpuset": ""}}, "non-empty cpu list"),
        ({"apiVersion": API_VERSION, "cpuConfig": {"cpuset": 3}}, "non-empty cpu list"),
        ({"apiVersion": API_VERSION, "cpuConfig": {"cpuset": "3-1"}}, "cpuConfig.cpuset"),
        ({"apiVersion": API_VERSION, "cpuConfig": {"fullCores": "yes"}}, "true or false"),
        ("text", "config: expected an object"),
    ],
)
def test_malformed_configs_name_the_field(doc: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("'", "'")):
        parse_config(doc)
