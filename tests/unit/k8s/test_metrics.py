"""KubeAPI counts failed attempts on the metrics registry as they happen."""

from __future__ import annotations

from pathlib import Path

import pytest

from drafast.k8s import KubeAPI, KubeSettings, NotFoundError
from drafast.k8s.metrics import ApiMetrics
from drafast.runtime.metrics import Metrics
from drafast.testing.fakeapi import FakeAPIServer

PATH = "/api/v1/nodes/n1"


async def test_api_errors_by_status(server: FakeAPIServer, tmp_path: Path) -> None:
    m = Metrics("d.example.com")
    settings = KubeSettings(
        kubeconfig=server.kubeconfig(tmp_path / "kubeconfig"),
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.02,
    )
    server.add("/api/v1/nodes", {"metadata": {"name": "n1"}})
    server.fail("GET", PATH, 503, times=2)
    async with KubeAPI(settings, metrics=ApiMetrics(m)) as api:
        await api.get(PATH)  # two retried failures, then success
        with pytest.raises(NotFoundError):
            await api.get("/api/v1/nodes/missing")

    def errors(status: str) -> float | None:
        labels = {"driver": "d.example.com", "status": status}
        return m.registry.get_sample_value("drafast_api_errors_total", labels)

    assert (errors("503"), errors("404")) == (2.0, 1.0)
    assert api.stats.errors == {503: 2, 404: 1}
