from __future__ import annotations

import base64
from pathlib import Path

from drafast.testing.cluster.controlplaneconfig import (
    ADMIN_USER,
    admin_kubeconfig,
    apiserver_argv,
    feature_gates_flag,
)


def test_feature_gates_flag_is_sorted_and_lowercase() -> None:
    assert feature_gates_flag({"B": False, "A": True}) == ["--feature-gates=A=true,B=false"]
    assert feature_gates_flag({}) == []


def test_apiserver_argv_adds_runtime_config_only_when_given() -> None:
    def argv(runtime_config: dict[str, str]) -> list[str]:
        return apiserver_argv(
            Path("/bin/kube-apiserver"),
            etcd_url="http://127.0.0.1:1",
            port=6443,
            cert_dir=Path("/w/apiserver"),
            token_file=Path("/w/tokens.csv"),
            service_account_key=Path("/w/sa.key"),
            audit_policy=Path("/w/audit-policy.yaml"),
            audit_log=Path("/w/audit/audit.log"),
            feature_gates={"G": True},
            runtime_config=runtime_config,
        )

    plain = argv({})
    assert plain[0] == "/bin/kube-apiserver"
    assert "--secure-port=6443" in plain
    assert "--feature-gates=G=true" in plain
    assert not [a for a in plain if a.startswith("--runtime-config")]
    assert argv({"b/v1": "true", "a/v1": "false"})[-1] == "--runtime-config=a/v1=false,b/v1=true"


def test_admin_kubeconfig_embeds_the_ca_and_the_token() -> None:
    cfg = admin_kubeconfig("https://127.0.0.1:6443", b"PEM", "secret")
    cluster = cfg["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"PEM"
    assert cfg["users"] == [{"name": ADMIN_USER, "user": {"token": "secret"}}]
