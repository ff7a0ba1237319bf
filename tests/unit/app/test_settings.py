import argparse
from pathlib import Path

import pytest

from drafast.app.settings import resolve
from drafast.drivers.file import KIND as FILE
from drafast.errors import ConfigError


def ns(**kw: object) -> argparse.Namespace:
    base = {"driver": "file", "config": None}
    return argparse.Namespace(**(base | kw))


def test_flag_beats_env_beats_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("node-name: from-file\ncdi_dir: /file/cdi\nplugin_dir: /file/plugin\n")
    env = {"NODE_NAME": "from-env", "CDI_ROOT": "/env/cdi"}
    opts = resolve(ns(config=str(cfg), node_name="from-flag"), env, FILE)
    assert opts.node_name == "from-flag"
    assert opts.cdi_dir == Path("/env/cdi")
    assert opts.plugin_dir == Path("/file/plugin")
    assert opts.driver_name == "file.drafast.dev"


def test_defaults(tmp_path: Path) -> None:
    opts = resolve(ns(node_name="n"), {}, FILE)
    assert opts.plugin_dir == Path("/var/lib/kubelet/plugins/file.drafast.dev")
    assert opts.registry_dir == Path("/var/lib/kubelet/plugins_registry")
    assert opts.cdi_dir == Path("/var/run/cdi")
    assert opts.cluster == "kube"


@pytest.mark.parametrize(
    ("kw", "env", "cfg", "message"),
    [
        ({}, {}, None, "node name is required"),
        ({"node_name": "n", "driver_name": "UPPER.case"}, {}, None, "must be a lower-case DNS"),
        ({"node_name": "n", "driver_name": "x" * 64}, {}, None, "at most 63"),
        ({"node_name": "n", "log_format": "xml"}, {}, None, "--log-format 'xml': expected text"),
        ({"node_name": "n"}, {}, "nodeName: [", "not valid YAML"),
        ({"node_name": "n"}, {}, "- a\n", "expected a mapping"),
        ({"node_name": "n"}, {}, "bogus: 1\n", "unknown settings bogus"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, kw, env, cfg, message) -> None:  # type: ignore[no-untyped-def]
    if cfg is not None:
        (tmp_path / "c.yaml").write_text(cfg)
        kw = kw | {"config": str(tmp_path / "c.yaml")}
    with pytest.raises(ConfigError, match=message):
        resolve(ns(**kw), env, FILE)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope\.yaml: cannot read"):
        resolve(ns(node_name="n", config=str(tmp_path / "nope.yaml")), {}, FILE)


def test_kubeconfig_context_from_flag_env_or_file(tmp_path: Path) -> None:
    assert resolve(ns(node_name="n"), {}, FILE).context is None
    opts = resolve(ns(node_name="n", context="prod"), {"KUBECONTEXT": "env"}, FILE)
    assert opts.context == "prod"
    assert resolve(ns(node_name="n"), {"KUBECONTEXT": "env"}, FILE).context == "env"
    (tmp_path / "c.yaml").write_text("context: from-file\n")
    opts = resolve(ns(node_name="n", config=str(tmp_path / "c.yaml")), {}, FILE)
    assert opts.context == "from-file"
