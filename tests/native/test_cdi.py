"""drafast._native CDI functions, checked against the pure-Python reference."""

from __future__ import annotations

import contextlib
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from drafast import _native
from drafast.errors import CDIError

from . import reference_cdi as ref
from .generators import random_text

NAME_ALPHABET = "aZ09_.:-/ é"


def test_versions() -> None:
    assert _native.CDI_VERSIONS == ref.VERSIONS


def agree(native: Any, reference: Any, *args: Any) -> Any:
    """Both succeed with the same result, or both fail with the same message (parse errors:
    same ``CDI spec: `` prefix)."""
    try:
        want = reference(*args)
    except ref.ReferenceError as e:
        with pytest.raises(CDIError) as got:
            native(*args)
        if isinstance(e, ref.ReferenceParseError):
            assert str(got.value).startswith("CDI spec: "), str(got.value)
        else:
            assert str(got.value) == str(e)
        return e
    assert native(*args) == want
    return want


@pytest.mark.parametrize(
    ("native", "reference"),
    [
        (_native.cdi_validate_vendor, ref.validate_vendor),
        (_native.cdi_validate_class, ref.validate_class),
        (_native.cdi_validate_device_name, ref.validate_device_name),
    ],
)
def test_name_rules_agree_with_reference(native: Any, reference: Any) -> None:
    rng = random.Random(3)
    names = [
        "",
        "a",
        "0",
        "a0",
        "-a",
        "a-",
        "a.b",
        "a:b",
        "a_b",
        "é",
        "a/b",
        "a b",
        "A" * 63,
        "a" * 64,
        "k8s.gpu.example.com",
        "9f1c-uid",
        "_",
    ]
    names += [
        "".join(rng.choice(NAME_ALPHABET) for _ in range(rng.randrange(8))) for _ in range(500)
    ]
    outcomes = {type(agree(native, reference, name)).__name__ for name in names}
    assert outcomes == {"NoneType", "ReferenceError"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: _native.cdi_validate_device_name("-x"),
            'CDI device name "-x": must start with a letter or digit',
        ),
        (lambda: _native.cdi_validate_vendor("1x"), 'CDI vendor "1x": must start with a letter'),
        (lambda: _native.cdi_validate_class("x" * 64), "must be at most 63 characters"),
        (lambda: _native.cdi_validate_class("a$b"), "invalid character '$'"),
        (lambda: _native.cdi_validate_vendor(""), 'CDI vendor "": must not be empty'),
    ],
)
def test_name_errors_name_the_value_and_rule(call: Any, message: str) -> None:
    with pytest.raises(CDIError) as err:
        call()
    assert message in str(err.value)


# ----------------------------------------------------------------------------- random specs


OMIT = object()


def maybe(rng: random.Random, value: Any) -> Any:
    """The value, or absent, or null (absent and null must mean the same)."""
    return value if rng.random() < 0.6 else rng.choice([OMIT, None])


def rare(rng: random.Random, *bad: Any) -> list[Any]:
    """Occasionally some invalid choices."""
    return list(bad) if rng.random() < 0.1 else []


def fields(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not OMIT}


def random_name(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return rng.choice(["-bad", "", "a b", "x:"])
    return rng.choice(["gpu", "0", "uid-1234", "a.b:c_d", "n"]) + str(rng.randrange(1000))


def env_list(rng: random.Random) -> list[str]:
    good = [f"VAR{i}={random_text(rng)}" for i in range(rng.randrange(3))]
    return good + ([rng.choice(["NOEQ", "=x"])] if rng.random() < 0.03 else [])


def device_node(rng: random.Random) -> dict[str, Any]:
    return fields(
        path=rng.choice(["/dev/d"] * 19 + ["/dev/nvidia0", ""]),
        hostPath=maybe(rng, rng.choice(["", "/dev/host"])),
        type=maybe(rng, rng.choice(["c", "b", "u", "p", "", *rare(rng, "x")])),
        major=maybe(rng, rng.choice([0, 195, -1, 2**63 - 1])),
        minor=maybe(rng, rng.randrange(256)),
        fileMode=maybe(rng, rng.choice([0o666, 0, 2**32 - 1])),
        permissions=maybe(rng, rng.choice(["rw", "rwm", "", "m", *rare(rng, "rx")])),
        uid=maybe(rng, rng.choice([0, 1000])),
        gid=maybe(rng, rng.choice([0, 44])),
    )


def hook(rng: random.Random) -> dict[str, Any]:
    return fields(
        hookName=rng.choice([*ref.HOOK_NAMES, *rare(rng, "bogus")]),
        path=rng.choice(["/usr/bin/hook"] * 9 + [""]),
        args=maybe(rng, ["hook", random_text(rng)]),
        env=maybe(rng, env_list(rng)),
        timeout=maybe(rng, rng.choice([1, 30, *rare(rng, 0, -1)])),
    )


def mount(rng: random.Random) -> dict[str, Any]:
    return fields(
        hostPath=rng.choice(["/var/lib/x"] * 19 + [""]),
        containerPath=rng.choice(["/data"] * 19 + [""]),
        type=maybe(rng, rng.choice(["bind", ""])),
        options=maybe(rng, rng.choice([["ro", "bind"], []])),
    )


def intel_rdt(rng: random.Random) -> dict[str, Any]:
    return fields(
        closID=maybe(rng, "clos1"),
        l3CacheSchema=maybe(rng, rng.choice(["L3:0=ff", ""])),
        memBwSchema=maybe(rng, "MB:0=50"),
        schemata=maybe(rng, rng.choice([["L3:0=f"], []])),
        enableMonitoring=maybe(rng, rng.choice([True, False])),
    )


def random_edits(rng: random.Random) -> dict[str, Any]:
    def some(make: Any) -> list[Any]:
        return [make(rng) for _ in range(rng.randrange(3))]

    edits: dict[str, Any] = {}
    if rng.random() < 0.5:
        edits["env"] = env_list(rng)
    if rng.random() < 0.4:
        edits["deviceNodes"] = some(device_node)
    if rng.random() < 0.3:
        edits["hooks"] = some(hook)
    if rng.random() < 0.4:
        edits["mounts"] = some(mount)
    if rng.random() < 0.15:
        edits["intelRdt"] = intel_rdt(rng)
    if rng.random() < 0.15:
        edits["additionalGids"] = rng.choice([[], [0], [5, 2**32 - 1]])
    if rng.random() < 0.1:
        name = rng.choice(["ens1", "ens2", ""])
        edits["netDevices"] = [{"hostInterfaceName": name, "name": "eth1"}]
    if rng.random() < 0.02:
        edits["bogus"] = 1
    return edits


def random_spec(rng: random.Random) -> dict[str, Any]:
    vendor = rng.choice(
        ["k8s.gpu.example.com", "nvidia.com", "v", "1bad" if rng.random() < 0.1 else "x"]
    )
    cls = rng.choice(["gpu", "claim", "c.d", "bad-" if rng.random() < 0.1 else "nic"])
    spec: dict[str, Any] = {"kind": rng.choice([f"{vendor}/{cls}"] * 30 + [vendor])}
    if rng.random() < 0.3:
        spec["cdiVersion"] = rng.choice(["0.3.0", "1.1.0", None])
    if rng.random() < 0.2:
        spec["annotations"] = rng.choice([{}, {"b": random_text(rng), "a": "1"}, None])
    devices = []
    for _ in range(rng.choice([0] + [1, 2, 3] * 10)):
        device: dict[str, Any] = {"name": random_name(rng)}
        if rng.random() < 0.1:
            device["annotations"] = {"x": random_text(rng)}
        if rng.random() < 0.8:
            device["containerEdits"] = rng.choice([random_edits(rng), None, {}])
        devices.append(device)
    spec["devices"] = devices
    if rng.random() < 0.5:
        spec["containerEdits"] = random_edits(rng)
    return spec


def shuffled_json(rng: random.Random, value: Any) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled_json(rng, v) for k, v in items}
    if isinstance(value, list):
        return [shuffled_json(rng, v) for v in value]
    return value


def encode(rng: random.Random, spec: dict[str, Any]) -> bytes:
    text = json.dumps(
        shuffled_json(rng, spec), ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2])
    )
    return text.encode()


@pytest.mark.parametrize("seed", range(20))
def test_render_and_minimum_version_agree_with_reference(seed: int) -> None:
    rng = random.Random(seed)
    outcomes = set()
    for _ in range(50):
        spec = encode(rng, random_spec(rng))
        rendered = agree(_native.cdi_render_spec, ref.render, spec)
        agree(_native.cdi_minimum_version, ref.minimum_version_of, spec)
        outcomes.add(type(rendered).__name__)
        if isinstance(rendered, bytes):
            assert _native.cdi_render_spec(rendered) == rendered, "canonical form is a fixed point"
            assert json.loads(rendered)["cdiVersion"] == _native.cdi_minimum_version(spec)
    assert "bytes" in outcomes


def test_random_specs_cover_every_version() -> None:
    rng = random.Random(99)
    seen = set()
    for _ in range(3000):
        with contextlib.suppress(ref.ReferenceError):
            seen.add(ref.minimum_version_of(encode(rng, random_spec(rng))))
    assert seen == {"0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "1.1.0"}


def spec_with(edits: Any = None, **fields: Any) -> bytes:
    spec: dict[str, Any] = {"kind": "vendor.com/class", "devices": [{"name": "d"}]}
    if edits is not None:
        spec["devices"][0]["containerEdits"] = edits
    spec.update(fields)
    return json.dumps(spec).encode()


@pytest.mark.parametrize(
    ("spec", "version"),
    [
        (spec_with(), "0.3.0"),
        (
            spec_with({"mounts": [{"hostPath": "/a", "containerPath": "/b", "type": "bind"}]}),
            "0.4.0",
        ),
        (spec_with({"deviceNodes": [{"path": "/dev/a", "hostPath": "/dev/b"}]}), "0.5.0"),
        (spec_with(devices=[{"name": "0abc"}]), "0.5.0"),
        (spec_with(annotations={"a": "b"}), "0.6.0"),
        (spec_with(kind="vendor.com/cl.ass"), "0.6.0"),
        (spec_with({"intelRdt": {"closID": "c"}}), "0.7.0"),
        (spec_with({"additionalGids": [7]}), "0.7.0"),
        (spec_with({"netDevices": [{"hostInterfaceName": "a", "name": "b"}]}), "1.1.0"),
        (spec_with({"intelRdt": {"enableMonitoring": True}}), "1.1.0"),
        (spec_with({"intelRdt": {"schemata": ["L3:0=1"]}}), "1.1.0"),
    ],
)
def test_minimum_version_rules(spec: bytes, version: str) -> None:
    assert _native.cdi_minimum_version(spec) == ref.minimum_version_of(spec) == version


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (spec_with(kind="nokind"), 'CDI kind "nokind": must be vendor/class'),
        (spec_with(devices=[]), "CDI spec: devices must not be empty"),
        (spec_with(devices=[{"name": "a"}, {"name": "a"}]), 'CDI device name "a": duplicate'),
        (
            spec_with({"env": ["NOVALUE"]}),
            'CDI device "d" containerEdits: env "NOVALUE": '
            "must be NAME=value with a non-empty NAME",
        ),
        (
            spec_with(containerEdits={"deviceNodes": [{"path": "/d", "type": "x"}]}),
            'CDI spec containerEdits: deviceNode "/d": type "x" must be one of b, c, u, p',
        ),
        (
            spec_with({"hooks": [{"hookName": "createRuntime", "path": "/h", "timeout": 0}]}),
            'CDI device "d" containerEdits: hook "/h": timeout must be > 0',
        ),
    ],
)
def test_validation_messages(spec: bytes, message: str) -> None:
    with pytest.raises(CDIError) as err:
        _native.cdi_render_spec(spec)
    assert str(err.value) == message
    agree(_native.cdi_render_spec, ref.render, spec)


@pytest.mark.parametrize(
    "spec",
    [
        b"",
        b"not json",
        b"[]",
        b'{"kind":"v/c"}',
        b'{"kind":"v/c","devices":[{"name":"d"}],"unknown":1}',
        b'{"kind":"v/c","devices":[{"name":"d","containerEdits":{"intelRdt":{"enableCMT":true}}}]}',
        b'{"kind":"v/c","devices":[["d"]]}',
        b'{"kind":"v/c","devices":[{"name":"d","containerEdits":[]}]}',
        b'{"kind":"v/c","devices":[{"name":"d","containerEdits":{"additionalGids":[1.0]}}]}',
        b'{"kind":"v/c","devices":[{"name":"d","containerEdits":{"additionalGids":[-1]}}]}',
        b'{"kind":"v/c","devices":[{"name":"d","containerEdits":{"env":"A=1"}}]}',
        b'{"kind":"v/c","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"/d","major":1e3}]}}]}',
        b'{"kind":"v/c","devices":[{"name":"d","annotations":{"a":1}}]}',
        b'{"kind":null,"devices":[{"name":"d"}]}',
        b'{"kind":"v/c","cdiVersion":1,"devices":[{"name":"d"}]}',
        b'{"kind":"v/c","devices":[{"name":"d","containerEdits":{"intelRdt":{"enableMonitoring":1}}}]}',
        b'{"kind":"v/c","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"/d","uid":4294967296}]}}]}',
    ],
)
def test_parse_errors(spec: bytes) -> None:
    with pytest.raises(CDIError, match=r"^CDI spec: "):
        _native.cdi_render_spec(spec)
    assert isinstance(agree(_native.cdi_render_spec, ref.render, spec), ref.ReferenceParseError)


def test_render_typical_claim_spec_exact() -> None:
    spec = {
        "cdiVersion": "1.1.0",
        "kind": "k8s.gpu.example.com/gpu",
        "devices": [
            {
                "name": f"9f1c6a44-uid-gpu{i}",
                "containerEdits": {
                    "env": [f"GPU_DEVICE_{i}=gpu-{i}"],
                    "deviceNodes": [
                        {"path": f"/dev/gpu{i}", "type": "c", "major": 195, "minor": i}
                    ],
                    "mounts": [
                        {
                            "hostPath": f"/var/lib/gpu{i}",
                            "containerPath": "/gpu",
                            "options": ["ro", "bind"],
                        }
                    ],
                },
            }
            for i in range(3)
        ],
    }
    rendered = _native.cdi_render_spec(json.dumps(spec).encode())
    assert rendered == ref.render(json.dumps(spec).encode())
    assert rendered.startswith(
        b'{"cdiVersion":"0.5.0","kind":"k8s.gpu.example.com/gpu","devices":['
    )
    assert b" " not in rendered


# ----------------------------------------------------------------------------- files

SPEC = json.dumps({"kind": "v.io/c", "devices": [{"name": "dév", "containerEdits": {}}]}).encode()
GOOD = json.dumps({"kind": "v.io/c", "devices": [{"name": "d1"}]}).encode()


def test_write_replace_remove(tmp_path: Path) -> None:
    path = _native.cdi_write_spec(str(tmp_path), "v.io-c_uid.json", GOOD)
    assert path == str(tmp_path / "v.io-c_uid.json")
    assert Path(path).read_bytes() == _native.cdi_render_spec(GOOD)
    ref_path = ref.write_spec(str(tmp_path), "ref.yaml", GOOD)
    assert Path(ref_path).read_bytes() == Path(path).read_bytes()
    other = json.dumps({"kind": "v.io/c", "devices": [{"name": "d2"}]}).encode()
    _native.cdi_write_spec(str(tmp_path), "v.io-c_uid.json", other)
    assert Path(path).read_bytes() == ref.render(other)
    assert oct(Path(path).stat().st_mode & 0o777) in ("0o644", "0o640", "0o600")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.yaml", "v.io-c_uid.json"]
    assert _native.cdi_remove_spec(str(tmp_path), "v.io-c_uid.json") is True
    assert _native.cdi_remove_spec(str(tmp_path), "v.io-c_uid.json") is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.yaml"]


@pytest.mark.parametrize(
    ("file_name", "rule"),
    [
        ("spec.yml", "must end in .json or .yaml"),
        ("a/b.json", "must not contain '/' or NUL"),
        ("../b.json", "must not contain '/' or NUL"),
        (".hidden.json", "must not start with '.'"),
        ("", "must end in .json or .yaml"),
    ],
)
def test_bad_file_names(tmp_path: Path, file_name: str, rule: str) -> None:
    message = f'CDI spec file name "{file_name}": {rule}'
    with pytest.raises(CDIError) as err:
        _native.cdi_write_spec(str(tmp_path), file_name, GOOD)
    assert str(err.value) == message
    with pytest.raises(CDIError):
        _native.cdi_remove_spec(str(tmp_path), file_name)
    with pytest.raises(ref.ReferenceError, match="file name"):
        ref.check_file_name(file_name)
    assert list(tmp_path.iterdir()) == []


def test_write_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(CDIError, match=f"^{re.escape(str(missing / 'x.json'))}: write temp file: "):
        _native.cdi_write_spec(str(missing), "x.json", GOOD)
    with pytest.raises(CDIError, match=r'^CDI device name "dév"'):
        _native.cdi_write_spec(str(tmp_path), "x.json", SPEC)
    (tmp_path / "x.json").mkdir()
    (tmp_path / "x.json" / "f").write_bytes(b"")
    with pytest.raises(CDIError, match=": rename: "):
        _native.cdi_write_spec(str(tmp_path), "x.json", GOOD)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"], "temp file removed"
