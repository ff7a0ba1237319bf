"""Restarts on a real node: drafast (SIGTERM and kill -9), the kubelet, and a "reboot" that
empties the CDI spec dir while the claims stay prepared in both checkpoints."""

from __future__ import annotations

import signal

import pytest

from drafast.testing.cluster import delete_pods, wait_pods_running, wait_until

from .conftest import (
    FILE_DRIVER,
    NodeEnv,
    apply,
    claim_template,
    container_report,
    lines_of,
    make_pod,
    pod_claim_uids,
    run_pods,
    wait_clean,
)

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]


def _registrations(env: NodeEnv, driver: str) -> int:
    """How often the kubelet's DRA handler saw our DRA socket connect (from its log)."""
    return env.node.kubelet_log.read_text().count(
        f'"Connection changed" logger="DRA registration handler" driverName="{driver}"'
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_restarting_drafast_while_pods_run(env: NodeEnv, ns: str, sig: signal.Signals) -> None:
    cp, plugin = env.cp, env.file_plugin
    greeting, notes = env.file("greeting"), env.file("notes")
    apply(
        cp,
        ns,
        claim_template("greeting", FILE_DRIVER, "greeting"),
        claim_template("notes", FILE_DRIVER, "notes"),
    )
    old = run_pods(
        cp, ns, [make_pod("old", ns, {"g": {"resourceClaimTemplateName": "greeting"}}, [greeting])]
    )
    old_uid = pod_claim_uids(cp, ns, old["old"])["g"]
    connects = _registrations(env, FILE_DRIVER)

    code = plugin.stop(sig)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    if sig == signal.SIGTERM:  # a clean stop removes the sockets: the kubelet deregisters
        assert not plugin.registration_socket.exists()
    plugin.launch()
    plugin.wait_ready(60)  # the kubelet found the new socket and registered us again
    wait_until("the kubelet reconnecting", lambda: _registrations(env, FILE_DRIVER) > connects, 30)

    # the old pod kept running, with its file; a new pod starts through the new process
    assert container_report(cp, ns, "old")[f"file {greeting}"] == [f"{ns}/old claim={old_uid}"]
    new = run_pods(
        cp, ns, [make_pod("new", ns, {"n": {"resourceClaimTemplateName": "notes"}}, [notes])]
    )
    new_uid = pod_claim_uids(cp, ns, new["new"])["n"]
    assert container_report(cp, ns, "new")[f"file {notes}"] == [f"{ns}/new claim={new_uid}"]

    # the old pod's claim was prepared by the previous process: it still unprepares cleanly
    delete_pods(cp, ns, ["old", "new"])
    wait_clean(env, FILE_DRIVER, [old_uid, new_uid], [greeting, notes])
    assert lines_of(greeting) == [] and lines_of(notes) == []


def test_restarting_the_kubelet_republishes_slices(env: NodeEnv, ns: str) -> None:
    cp, node = env.cp, env.node
    greeting, notes = env.file("greeting"), env.file("notes")
    apply(
        cp,
        ns,
        claim_template("greeting", FILE_DRIVER, "greeting"),
        claim_template("notes", FILE_DRIVER, "notes"),
    )
    old = run_pods(
        cp, ns, [make_pod("old", ns, {"g": {"resourceClaimTemplateName": "greeting"}}, [greeting])]
    )
    old_uid = pod_claim_uids(cp, ns, old["old"])["g"]
    before = {s["metadata"]["uid"] for s in env.slices()}
    assert len(before) == 2
    wipes = len(cp.audit.writes(resource="resourceslices", verbs=frozenset({"deletecollection"})))

    node.restart_kubelet()

    # the new kubelet wiped every slice of the node at start (no driver registered yet)...
    wait_until(
        "the kubelet's start-up wipe",
        lambda: (
            len(cp.audit.writes(resource="resourceslices", verbs=frozenset({"deletecollection"})))
            > wipes
        ),
        30,
    )

    # ...and both drivers published theirs again (new objects)
    def republished() -> bool:
        now = env.slices()
        drivers = sorted(s["spec"]["driver"] for s in now)
        return drivers == sorted([FILE_DRIVER, "shared.drafast.dev"]) and not (
            {s["metadata"]["uid"] for s in now} & before
        )

    wait_until("slices re-published after the kubelet wiped them", republished, 60)
    env.file_plugin.wait_ready(30)
    env.shared_plugin.wait_ready(30)

    # the old pod is still running; new pods start; the old claim unprepares
    wait_pods_running(cp, ns, ["old"], 30)
    new = run_pods(
        cp, ns, [make_pod("new", ns, {"n": {"resourceClaimTemplateName": "notes"}}, [notes])]
    )
    new_uid = pod_claim_uids(cp, ns, new["new"])["n"]
    delete_pods(cp, ns, ["old", "new"])
    wait_clean(env, FILE_DRIVER, [old_uid, new_uid], [greeting, notes])


def test_a_reboot_empties_the_cdi_dir_and_the_kubelet_prepares_again(env: NodeEnv, ns: str) -> None:
    """As after a reboot: the containers are gone and /var/run/cdi (tmpfs) is empty, while the
    kubelet's and drafast's checkpoints still hold the claim. The restarted kubelet prepares
    again, drafast re-materializes the spec from its checkpoint, and the pod starts again."""
    cp, node, plugin = env.cp, env.node, env.file_plugin
    greeting = env.file("greeting")
    apply(cp, ns, claim_template("greeting", FILE_DRIVER, "greeting"))
    pods = run_pods(
        cp,
        ns,
        [make_pod("survivor", ns, {"g": {"resourceClaimTemplateName": "greeting"}}, [greeting])],
    )
    uid = pod_claim_uids(cp, ns, pods["survivor"])["g"]
    spec = env.cdi_spec(FILE_DRIVER, uid)
    assert spec.exists()
    prepares = _prepare_calls(env)

    node.stop_kubelet()
    # the "reboot": every container dies and the CDI dir comes back empty
    for task in node.ctr("tasks", "ls", "-q").split():
        node.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
    wait_until("the containers to die", lambda: not _running_tasks(env), 30)
    for f in node.cdi_dir.iterdir():
        f.unlink()
    node.start_kubelet()

    # the kubelet prepares the claim again; drafast answers from its checkpoint and rewrites
    wait_until("NodePrepareResources after the restart", lambda: _prepare_calls(env) > prepares, 60)
    wait_until("the CDI spec re-written", spec.exists, 30)

    # the pod's containers start again (a new sandbox, restart count up) with the file mounted
    def restarted() -> bool:
        p = cp.api.get(f"/api/v1/namespaces/{ns}/pods/survivor")
        cs = (p["status"].get("containerStatuses") or [{}])[0]
        return bool(cs.get("ready")) and cs.get("restartCount", 0) >= 1

    wait_until("the pod running again", restarted, 90)
    rep = container_report(cp, ns, "survivor")
    assert rep[f"file {greeting}"] == [f"{ns}/survivor claim={uid}"]
    assert plugin.running()

    delete_pods(cp, ns, ["survivor"])
    wait_clean(env, FILE_DRIVER, [uid], [greeting])


def _prepare_calls(env: NodeEnv) -> float:
    samples = env.file_plugin.metrics().get("drafast_operation_duration_seconds_count", [])
    return sum(v for lab, v in samples if lab.get("operation") == "prepare")


def _running_tasks(env: NodeEnv) -> list[str]:
    out = env.node.ctr("tasks", "ls")
    return [ln for ln in out.splitlines()[1:] if "RUNNING" in ln]
