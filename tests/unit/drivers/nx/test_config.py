from typing import Any

import pytest

from drafast.drivers.nx import API_VERSION, CONFIG_KIND, NxConfig, parse_config
from drafast.drivers.nx.config import Interval, Strategy
from drafast.errors import ConfigError

HEAD = {"apiVersion": API_VERSION, "kind": CONFIG_KIND}


def test_defaults_without_sharing() -> None:
    cfg = parse_config(dict(HEAD))
    assert cfg == NxConfig() == parse_config(HEAD | {"sharing": None})
    assert cfg.env() == (
        "NX_DEVICE_SHARING_STRATEGY=TimeSlicing",
        "NX_DEVICE_TIMESLICE_INTERVAL=Default",
    )


def test_time_slicing() -> None:
    cfg = parse_config(
        HEAD | {"sharing": {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": "Long"}}}
    )
    assert (cfg.strategy, cfg.interval, cfg.partition_count) == (
        Strategy.TIME_SLICING,
        Interval.LONG,
        None,
    )
    assert "NX_DEVICE_TIMESLICE_INTERVAL=Long" in cfg.env()
    # interval defaults to Default
    assert (
        parse_config(HEAD | {"sharing": {"strategy": "TimeSlicing"}}).interval is Interval.DEFAULT
    )


def test_space_partitioning() -> None:
    cfg = parse_config(
        HEAD
        | {
            "sharing": {
                "strategy": "SpacePartitioning",
                "spacePartitioningConfig": {"partitionCount": 4},
            }
        }
    )
    assert (cfg.strategy, cfg.interval, cfg.partition_count) == (
        Strategy.SPACE_PARTITIONING,
        None,
        4,
    )
    assert cfg.env() == (
        "NX_DEVICE_SHARING_STRATEGY=SpacePartitioning",
        "NX_DEVICE_PARTITION_COUNT=4",  # the peer's variable is misspelt Nx_DEVICE_...
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "apiVersion: required (nx.drafast.dev/v1alpha1)"),
        ({"kind": CONFIG_KIND}, "apiVersion: required"),
        (
            {"apiVersion": "nx.drafast.dev/v1", "kind": CONFIG_KIND},
            "apiVersion: expected nx.drafast.dev/v1alpha1, got 'nx.drafast.dev/v1'",
        ),
        ({"apiVersion": API_VERSION}, "kind: required (NxConfig)"),
        (
            {"apiVersion": API_VERSION, "kind": "GpuConfig"},
            "kind: expected NxConfig, got 'GpuConfig'",
        ),
        (HEAD | {"extra": 1}, "extra: unknown field (known: apiVersion, kind, sharing)"),
        (HEAD | {"sharing": "TimeSlicing"}, "sharing: expected an object, got str"),
        (HEAD | {"sharing": {}}, "sharing.strategy: required (TimeSlicing or SpacePartitioning)"),
        (
            HEAD | {"sharing": {"strategy": "Fair"}},
            "sharing.strategy: expected one of TimeSlicing, SpacePartitioning, got 'Fair'",
        ),
        (
            HEAD | {"sharing": {"strategy": 1}},
            "sharing.strategy: expected one of TimeSlicing, SpacePartitioning, got 1",
        ),
        (
            HEAD | {"sharing": {"strategy": "TimeSlicing", "timeslicingConfig": {}}},
            "sharing.timeslicingConfig: unknown field",
        ),
        (
            HEAD
            | {"sharing": {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": "Fast"}}},
            "sharing.timeSlicingConfig.interval: expected one of Default, Short, Medium, Long, "
            "got 'Fast'",
        ),
        (
            HEAD
            | {"sharing": {"strategy": "TimeSlicing", "timeSlicingConfig": {"intervals": "Long"}}},
            "sharing.timeSlicingConfig.intervals: unknown field (known: interval)",
        ),
        (
            HEAD
            | {
                "sharing": {
                    "strategy": "TimeSlicing",
                    "spacePartitioningConfig": {"partitionCount": 2},
                }
            },
            "sharing.spacePartitioningConfig: only valid with strategy SpacePartitioning",
        ),
        (
            HEAD | {"sharing": {"strategy": "SpacePartitioning", "timeSlicingConfig": {}}},
            "sharing.timeSlicingConfig: only valid with strategy TimeSlicing",
        ),
        (
            HEAD | {"sharing": {"strategy": "SpacePartitioning"}},
            "sharing.spacePartitioningConfig: required with strategy SpacePartitioning",
        ),
        (
            HEAD | {"sharing": {"strategy": "SpacePartitioning", "spacePartitioningConfig": {}}},
            "sharing.spacePartitioningConfig.partitionCount: required",
        ),
        *[
            (
                HEAD
                | {
                    "sharing": {
                        "strategy": "SpacePartitioning",
                        "spacePartitioningConfig": {"partitionCount": bad},
                    }
                },
                f"sharing.spacePartitioningConfig.partitionCount: expected an integer >= 1, "
                f"got {bad!r}",
            )
            for bad in (0, -1, "2", 2.0, True)
        ],
    ],
)
def test_errors_name_the_field(doc: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(doc)
    assert str(err.value).startswith(message), str(err.value)


def test_parameters_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match="config: expected an object, got list"):
        parse_config([])


def test_deploy_examples_carry_valid_configs_and_credit_requests() -> None:
    """The shipped examples must work (the peer's were broken more than once)."""
    from pathlib import Path

    import yaml

    from drafast.drivers.nx import DEFAULT_DRIVER_NAME
    from drafast.drivers.nx.inventory import CREDITS

    deploy = Path(__file__).resolve().parents[4] / "deploy" / "nx"
    docs = [d for f in sorted(deploy.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    [cls] = [d for d in docs if d["kind"] == "DeviceClass"]
    assert cls["metadata"]["name"] == DEFAULT_DRIVER_NAME
    assert DEFAULT_DRIVER_NAME in cls["spec"]["selectors"][0]["cel"]["expression"]
    templates = [d for d in docs if d["kind"] == "ResourceClaimTemplate"]
    assert len(templates) == 2
    strategies = set()
    for t in templates:
        devices = t["spec"]["spec"]["devices"]
        for req in devices["requests"]:
            assert req["exactly"]["deviceClassName"] == DEFAULT_DRIVER_NAME
            assert set(req["exactly"].get("capacity", {}).get("requests", {})) <= {CREDITS}
        for c in devices["config"]:
            assert c["opaque"]["driver"] == DEFAULT_DRIVER_NAME
            strategies.add(parse_config(c["opaque"]["parameters"]).strategy)
    assert strategies == {Strategy.TIME_SLICING, Strategy.SPACE_PARTITIONING}
