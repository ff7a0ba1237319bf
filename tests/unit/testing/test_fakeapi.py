"""The in-memory API server keeps the rules the client tests rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drafast.k8s import ConflictError, KubeAPI, KubeSettings, NotFoundError
from drafast.testing.fakeapi import FakeAPIServer, _matches, merge_patch

PODS = "/api/v1/namespaces/ns/pods"


def test_merge_patch_rfc7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3], "n": {"x": None, "y": 1}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3], "n": {"y": 1}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}, "target untouched"
    assert merge_patch({"a": 1}, [1]) == [1]


@pytest.mark.parametrize(
    ("labels", "fields", "match"),
    [
        ("app=x", "", True),
        ("app==x,tier", "", True),
        ("app!=x", "", False),
        ("!tier", "", False),
        ("missing", "", False),
        ("", "spec.nodeName=n1", True),
        ("", "spec.nodeName!=n1", False),
        ("", "spec.driver=", True),  # absent field == ""
        ("", "metadata.name=p,spec.nodeName=n2", False),
    ],
)
def test_selectors(labels: str, fields: str, match: bool) -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "p", "labels": {"app": "x", "tier": "web"}},
        "spec": {"nodeName": "n1"},
    }
    assert _matches(obj, labels, fields) is match


async def test_status_subresource_and_main_resource_are_separate(tmp_path: Path) -> None:
    async with (
        FakeAPIServer() as server,
        KubeAPI(KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kc"))) as api,
    ):
        pod = await api.create(PODS, {"metadata": {"name": "p"}, "spec": {"a": 1}})
        assert pod["metadata"]["namespace"] == "ns"
        pod["status"] = {"phase": "Running"}
        pod["spec"] = {"a": 2}
        after = await api.update(f"{PODS}/p/status", pod)
        assert after["spec"] == {"a": 1}, "/status does not change spec"
        assert after["status"] == {"phase": "Running"}
        after["status"] = {}
        after["spec"] = {"a": 3}
        main = await api.update(f"{PODS}/p", after)
        assert main["status"] == {"phase": "Running"}, "the main resource keeps status"
        assert main["metadata"]["generation"] == 2
        # A no-op write does not move the resourceVersion.
        again = await api.update(f"{PODS}/p", main)
        assert again["metadata"]["resourceVersion"] == main["metadata"]["resourceVersion"]
        with pytest.raises(ConflictError, match="UID in precondition"):
            await api.update(f"{PODS}/p", {**main, "metadata": {**main["metadata"], "uid": "x"}})
        gen = await api.create(PODS, {"metadata": {"generateName": "g-"}})
        assert gen["metadata"]["name"].startswith("g-")
        assert len(gen["metadata"]["name"]) == 7
        listed = await api.list("/api/v1/pods")  # all namespaces
        assert len(listed["items"]) == 2
        with pytest.raises(NotFoundError):
            await api.get(f"{PODS}/p/log")
