"""The kubelet's version choice, as the client replays it."""

import pytest

from drafast.kubelet.client import PluginInfo, RegistrationError, choose_version


def info(*versions: str, type: str = "DRAPlugin") -> PluginInfo:
    return PluginInfo(
        type=type, name="gpu.example.com", endpoint="/x/dra.sock", supported_versions=versions
    )


@pytest.mark.parametrize(
    ("versions", "chosen"),
    [
        (("v1.DRAPlugin", "v1beta1.DRAPlugin"), "v1"),
        (("v1beta1.DRAPlugin", "v1.DRAPlugin"), "v1beta1"),  # the plugin's order wins
        (("v1alpha1.DRAResourceHealth", "v1beta1.DRAPlugin"), "v1beta1"),
        (("v1alpha3.NodeService", "v1.DRAPlugin"), "v1"),
    ],
)
def test_first_known_version_in_the_plugins_order(versions: tuple[str, ...], chosen: str) -> None:
    assert choose_version(info(*versions)) == chosen


@pytest.mark.parametrize(
    "versions",
    [
        (),
        ("v1alpha3.NodeService",),
        ("v1.DRAResourceHealth",),
        ("k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin",),
    ],
)
def test_no_known_version(versions: tuple[str, ...]) -> None:
    with pytest.raises(RegistrationError, match="none of the services"):
        choose_version(info(*versions))


def test_wrong_plugin_type() -> None:
    with pytest.raises(RegistrationError, match="CSIPlugin"):
        choose_version(info("v1.DRAPlugin", type="CSIPlugin"))
