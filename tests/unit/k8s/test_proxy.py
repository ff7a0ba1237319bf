"""Which proxy the API server is reached through, from the environment (client-go's rules)."""

from __future__ import annotations

import pytest

from drafast.k8s.proxy import env_proxy

P = "http://proxy:3128"


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("https://api.example:6443", {}, None),
        ("https://api.example:6443", {"HTTPS_PROXY": P}, P),
        ("https://api.example:6443", {"https_proxy": P}, P),
        ("https://api.example:6443", {"HTTP_PROXY": P}, None),  # the scheme's own variable
        ("http://api.example", {"HTTP_PROXY": P}, P),
        ("https://api.example", {"HTTPS_PROXY": P, "NO_PROXY": "example"}, None),
        ("https://api.example", {"HTTPS_PROXY": P, "NO_PROXY": ".example"}, None),
        ("https://api.example", {"HTTPS_PROXY": P, "NO_PROXY": "other, *"}, None),
        ("https://api.example", {"HTTPS_PROXY": P, "NO_PROXY": "xample"}, P),
        ("https://api.example:6443", {"HTTPS_PROXY": P, "NO_PROXY": "api.example:443"}, P),
        ("https://api.example:6443", {"HTTPS_PROXY": P, "no_proxy": "api.example:6443"}, None),
        ("https://10.0.0.1", {"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://10.0.0.1", {"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.1"}, None),
        ("https://[fd00::1]:6443", {"HTTPS_PROXY": P, "NO_PROXY": "fd00::/8"}, None),
        ("https://11.0.0.1", {"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, P),
        ("https://127.0.0.1:6443", {"HTTPS_PROXY": P}, None),  # loopback never
        ("https://localhost:6443", {"HTTPS_PROXY": P}, None),
    ],
)
def test_env_proxy(url: str, env: dict[str, str], expected: str | None) -> None:
    assert env_proxy(url, env) == expected
