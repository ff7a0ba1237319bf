"""Pods with DRA claims on a real node: the real kubelet calls drafast (a host process) through
its plugin registry, containerd injects the CDI edits, and deleting the pods unprepares."""

from __future__ import annotations

import json

import pytest

from drafast.testing.cluster import delete_pods, parse_metrics, wait_until

from .conftest import (
    FILE_DRIVER,
    SHARED_DRIVER,
    V1,
    NodeEnv,
    apply,
    claim,
    claim_template,
    container_report,
    lines_of,
    make_pod,
    pod_claim_uids,
    run_pods,
    wait_clean,
)

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]


def _count(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(v for lab, v in samples if all(lab.get(k) == x for k, x in labels.items()))


def test_the_kubelet_registers_both_plugins(env: NodeEnv) -> None:
    node = env.node
    metrics = parse_metrics(node.kubelet_metrics())
    for plugin in (env.file_plugin, env.shared_plugin):
        # the kubelet's plugin manager holds our registration socket as registered...
        sock = str(plugin.registration_socket)
        assert (
            _count(
                metrics["plugin_manager_total_plugins"],
                socket_path=sock,
                state="actual_state_of_world",
            )
            == 1
        ), f"kubelet did not register {sock}"
        # ...it told us so (NotifyRegistrationStatus(plugin_registered=true) -> /readyz ok)...
        ok, detail = plugin.ready()
        assert ok, detail
        # ...and its DRA plugin manager dialed the DRA socket we named in GetInfo
        log = node.kubelet_log.read_text()
        assert (
            f'"Connection changed" logger="DRA registration handler" '
            f'driverName="{plugin.driver_name}" endpoint="{plugin.plugin_dir / "dra.sock"}" '
            "connected=true"
        ) in log
        # the slices were published for this node and survive the kubelet's start-up wipe
        [sl] = env.slices(plugin.driver_name)
        assert sl["spec"]["pool"]["name"] == node.name
    node_obj = env.api.get(f"/api/v1/nodes/{node.name}")
    assert node_obj["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_a_pod_with_a_claim_template_gets_its_file(env: NodeEnv, ns: str) -> None:
    cp, greeting = env.cp, env.file("greeting")
    before = parse_metrics(env.node.kubelet_metrics())
    apply(cp, ns, claim_template("greeting", FILE_DRIVER, "greeting"))
    pod = make_pod("reader", ns, {"f": {"resourceClaimTemplateName": "greeting"}}, [greeting])
    pods = run_pods(cp, ns, [pod])
    [uid] = pod_claim_uids(cp, ns, pods["reader"]).values()
    line = f"{ns}/reader claim={uid}"

    # inside the container: the file, read-only, with this pod's line
    rep = container_report(cp, ns, "reader")
    assert rep[f"file {greeting}"] == [line]
    [mount] = rep[f"mount {greeting}"]
    assert mount.split()[3].split(",")[0] == "ro", mount
    out = cp.kubectl("exec", "-n", ns, "reader", "--", "cat", str(greeting)).stdout
    assert out.splitlines() == [line]
    denied = cp.kubectl(
        "exec", "-n", ns, "reader", "--", "sh", "-c", f"echo x >> {greeting}", check=False
    )
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr + denied.stdout

    # on the host: our CDI spec (what containerd injected) and the line in the shared file
    spec = json.loads(env.cdi_spec(FILE_DRIVER, uid).read_text())
    assert spec["kind"] == f"k8s.{FILE_DRIVER}/file"
    assert spec["devices"][0]["containerEdits"]["mounts"] == [
        {"hostPath": str(greeting), "containerPath": str(greeting), "options": ["ro", "bind"]}
    ]
    assert lines_of(greeting) == [line]
    after = parse_metrics(env.node.kubelet_metrics())
    prepares = "dra_operations_duration_seconds_count"
    assert _count(after[prepares], operation_name="PrepareResources", is_error="false") > _count(
        before.get(prepares, []), operation_name="PrepareResources", is_error="false"
    )

    # the pod goes: the kubelet unprepares, the spec and the line are gone, the claim deleted
    delete_pods(cp, ns, ["reader"])
    wait_clean(env, FILE_DRIVER, [uid], [greeting])
    assert lines_of(greeting) == []

    def claim_going() -> bool:  # the resourceclaim controller deletes it shortly after the pod
        claims = cp.api.get(f"{V1}/namespaces/{ns}/resourceclaims")["items"]
        return all(c["metadata"].get("deletionTimestamp") for c in claims) or not claims

    wait_until("the template's claim to be deleted", claim_going, 60)


def test_two_pods_share_one_claim(env: NodeEnv, ns: str) -> None:
    cp, notes = env.cp, env.file("notes")
    apply(cp, ns, claim("notes", FILE_DRIVER, "notes"))
    pods = run_pods(
        cp,
        ns,
        [make_pod(p, ns, {"n": {"resourceClaimName": "notes"}}, [notes]) for p in ("a", "b")],
    )
    uid = pod_claim_uids(cp, ns, pods["a"])["n"]
    c = cp.api.get(f"{V1}/namespaces/{ns}/resourceclaims/notes")
    assert sorted(r["name"] for r in c["status"]["reservedFor"]) == ["a", "b"]
    for p in ("a", "b"):
        seen = container_report(cp, ns, p)[f"file {notes}"]
        # one prepare for the claim on this node: the line(s) name the pods reserved by then
        assert seen and all(s.endswith(f" claim={uid}") for s in seen), seen
        assert {s.split()[0] for s in seen} <= {f"{ns}/a", f"{ns}/b"}

    # the first pod goes: the claim is still in use on this node, nothing is unprepared
    delete_pods(cp, ns, ["a"])
    assert env.cdi_spec(FILE_DRIVER, uid).exists()
    assert any(uid in ln for ln in lines_of(notes))
    assert container_report(cp, ns, "b")[f"file {notes}"]
    # the last one goes: now it is
    delete_pods(cp, ns, ["b"])
    wait_clean(env, FILE_DRIVER, [uid], [notes])
    assert lines_of(notes) == []


def test_two_pods_with_separate_claims_on_one_file(env: NodeEnv, ns: str) -> None:
    cp, board = env.cp, env.file("board")
    apply(cp, ns, claim_template("board", SHARED_DRIVER, "board"))
    pods = run_pods(
        cp,
        ns,
        [
            make_pod(p, ns, {"b": {"resourceClaimTemplateName": "board"}}, [board])
            for p in ("x", "y")
        ],
    )
    uids = {p: pod_claim_uids(cp, ns, pods[p])["b"] for p in ("x", "y")}
    assert uids["x"] != uids["y"]
    shares = set()
    for p, uid in uids.items():
        c = cp.api.get(
            f"{V1}/namespaces/{ns}/resourceclaims/{pods[p]['status']['resourceClaimStatuses'][0]['resourceClaimName']}"
        )
        [res] = c["status"]["allocation"]["devices"]["results"]
        assert (res["driver"], res["device"]) == (SHARED_DRIVER, "board")
        shares.add(res.get("shareID"))
        rep = container_report(cp, ns, p)
        # each container sees its own claim's line (a later rewrite replaces the file's inode,
        # so the first container keeps the content it was started with)
        assert f"{ns}/{p} claim={uid}" in rep[f"file {board}"]
        # the CDI env edit of the shareable driver reached the container
        assert rep["env"] == [f"DRAFAST_FILE_BOARD={board}"]
    assert len(shares) == 2 and None not in shares, shares
    assert sorted(lines_of(board)) == sorted(f"{ns}/{p} claim={u}" for p, u in uids.items())

    delete_pods(cp, ns, ["x"])
    wait_clean(env, SHARED_DRIVER, [uids["x"]], [board])
    assert lines_of(board) == [f"{ns}/y claim={uids['y']}"]
    delete_pods(cp, ns, ["y"])
    wait_clean(env, SHARED_DRIVER, [uids["y"]], [board])
    assert lines_of(board) == []


def test_a_pod_with_two_claims(env: NodeEnv, ns: str) -> None:
    cp = env.cp
    greeting, notes, board = env.file("greeting"), env.file("notes"), env.file("board")
    apply(
        cp,
        ns,
        claim_template("greeting", FILE_DRIVER, "greeting"),
        claim_template("notes", FILE_DRIVER, "notes"),
        claim_template("board", SHARED_DRIVER, "board"),
    )
    claims = {
        "g": {"resourceClaimTemplateName": "greeting"},
        "n": {"resourceClaimTemplateName": "notes"},
        "b": {"resourceClaimTemplateName": "board"},
    }
    before = env.file_plugin.metrics().get("drafast_claims_total", [])
    pods = run_pods(cp, ns, [make_pod("multi", ns, claims, [greeting, notes, board])])
    uids = pod_claim_uids(cp, ns, pods["multi"])
    assert len(set(uids.values())) == 3
    rep = container_report(cp, ns, "multi")
    for key, path in (("g", greeting), ("n", notes), ("b", board)):
        assert rep[f"file {path}"] == [f"{ns}/multi claim={uids[key]}"]
        assert rep[f"mount {path}"][0].split()[3].startswith("ro")
    # every file device names its path in the env (CDI env edits through the real containerd)
    assert rep["env"] == sorted(
        [
            f"DRAFAST_FILE_BOARD={board}",
            f"DRAFAST_FILE_GREETING={greeting}",
            f"DRAFAST_FILE_NOTES={notes}",
        ]
    )
    # two claims of one driver: prepared in one call of the kubelet
    after = env.file_plugin.metrics()["drafast_claims_total"]
    assert (
        _count(after, operation="prepare", result="success")
        - _count(before, operation="prepare", result="success")
        == 2
    )

    delete_pods(cp, ns, ["multi"])
    wait_clean(env, FILE_DRIVER, [uids["g"], uids["n"]], [greeting, notes])
    wait_clean(env, SHARED_DRIVER, [uids["b"]], [board])
