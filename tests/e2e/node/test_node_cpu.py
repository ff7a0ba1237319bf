"""The CPU driver on the real node: drafast publishes this machine's CPUs (its real sysfs), the
real scheduler allocates, the real kubelet has drafast prepare, and containerd pins containers
through drafast's NRI plugin. Inside each container ``Cpus_allowed_list`` is what we check.

This machine has 2 CPUs, so every case uses 1-CPU claims and no reserved CPUs: one CPU pinned,
one left for the shared pool.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drafast.drivers.cpu.cpulist import format_cpulist, parse_cpulist
from drafast.testing.cluster import HostPlugin, delete_pods, pod_manifest, wait_until

from .conftest import V1, NodeEnv, apply, pod_claim_uids, run_pods

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(420)]

CPU_DRIVER = "cpu.drafast.dev"
DEPLOY = Path(__file__).parents[3] / "deploy" / "cpu"
ONLINE = parse_cpulist(Path("/sys/devices/system/cpu/online").read_text())
# Prints the claim variables once, then the CPUs it may run on twice a second (affinity is
# inherited from the shell, whose mask the kernel rewrites when the cgroup's cpuset changes).
# The variables are read from PID 1's (the shell's) environ: a claim UID has dashes, so the shell
# does not pass DRA_CPUSET_<uid> on to `env`.
WATCH = (
    "tr '\\0' '\\n' < /proc/1/environ | grep ^DRA_CPUSET_ | sed 's/^/claim /'; "
    "trap 'exit 0' TERM; "
    "while true; do awk '/Cpus_allowed_list/ {print \"cpus \" $2}' /proc/self/status; "
    "sleep 0.5 & wait; done"
)


@pytest.fixture
def cpu_plugin(env: NodeEnv, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Starts ``drafast run cpu`` with settings (a dict the test fills before the first
    ``start``); stops it and removes its slices after the test. Tests ask for it before ``ns``,
    so their pods are deleted (and unprepared) while the plugin still runs."""
    env.cp.kubectl("apply", "-f", str(DEPLOY / "deviceclass.yaml"))
    box: dict[str, Any] = {"settings": {"host_root": "/"}, "plugin": None}

    def start() -> HostPlugin:
        plugin = HostPlugin.start(
            env.node,
            tmp_path / "drafast",
            driver="cpu",
            driver_name=CPU_DRIVER,
            settings=box["settings"],
            common={"nri_socket": env.node.nri_socket},
        )
        box["plugin"] = plugin
        return plugin

    box["start"] = start
    try:
        yield box
    finally:
        if box["plugin"] is not None:
            box["plugin"].stop()
        env.cp.kubectl("delete", "deviceclass", CPU_DRIVER, "--ignore-not-found", check=False)
        sel = f"spec.driver={CPU_DRIVER}"
        for s in env.api.get(f"{V1}/resourceslices?fieldSelector={sel}")["items"]:
            env.api.delete(f"{V1}/resourceslices/{s['metadata']['name']}")


def cpu_template(name: str, *, count: int = 1, individual: bool = False) -> dict[str, Any]:
    exactly: dict[str, Any] = {"deviceClassName": CPU_DRIVER}
    if individual:
        exactly |= {"allocationMode": "ExactCount", "count": count}
    else:
        exactly["capacity"] = {"requests": {f"{CPU_DRIVER}/cpu": str(count)}}
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name},
        "spec": {"spec": {"devices": {"requests": [{"name": "cpus", "exactly": exactly}]}}},
    }


def watcher(name: str, ns: str, template: str | None = None) -> dict[str, Any]:
    claims = {"cpus": {"resourceClaimTemplateName": template}} if template else {}
    return pod_manifest(name, namespace=ns, claims=claims, script=WATCH)


def lines(env: NodeEnv, ns: str, pod: str, prefix: str) -> list[str]:
    out = env.cp.kubectl("logs", "-n", ns, pod, "--tail", "400", check=False).stdout
    return [ln.removeprefix(prefix) for ln in out.splitlines() if ln.startswith(prefix)]


def cpus_of(env: NodeEnv, ns: str, pod: str) -> frozenset[int] | None:
    seen = lines(env, ns, pod, "cpus ")
    return parse_cpulist(seen[-1]) if seen else None


def wait_cpus(env: NodeEnv, ns: str, pod: str, want: frozenset[int], timeout: float = 30) -> None:
    wait_until(
        f"{ns}/{pod} on CPUs {format_cpulist(want)} (last seen: {cpus_of(env, ns, pod)})",
        lambda: cpus_of(env, ns, pod) == want,
        timeout,
    )


def claim_cpus(env: NodeEnv, ns: str, pod: dict[str, Any]) -> frozenset[int]:
    """The claim's CPUs as the container's DRA_CPUSET_<uid> says, checked to name its claim."""
    [uid] = pod_claim_uids(env.cp, ns, pod).values()
    name = pod["metadata"]["name"]
    try:
        found = wait_until(f"the claim variable of {name}", lambda: lines(env, ns, name, "claim "))
    except AssertionError as err:
        logs = env.cp.kubectl("logs", "-n", ns, name, "--tail", "5", check=False)
        specs = sorted(p.name for p in env.node.cdi_dir.glob(f"k8s.{CPU_DRIVER}-*"))
        raise AssertionError(
            f"{err}\nlogs: {logs.stdout}{logs.stderr}\nCDI specs: {specs}"
        ) from None
    [line] = found
    key, value = line.split("=", 1)
    assert key == f"DRA_CPUSET_{uid}"
    return parse_cpulist(value)


def test_the_grouped_device_publishes_this_machines_cpus(env: NodeEnv, cpu_plugin: Any) -> None:
    cpu_plugin["start"]()
    [s] = env.slices(CPU_DRIVER)
    [dev] = s["spec"]["devices"]
    assert dev["name"] == "cpudevnuma000"
    assert dev["allowMultipleAllocations"] is True
    assert dev["capacity"][f"{CPU_DRIVER}/cpu"]["value"] == str(len(ONLINE))
    assert dev["attributes"]["resource.kubernetes.io/numaNode"] == {"int": 0}


def test_pinned_and_shared_containers_and_the_pool_widens_at_once(
    env: NodeEnv, cpu_plugin: Any, ns: str
) -> None:
    cpu_plugin["start"]()
    run_pods(env.cp, ns, [watcher("shared-1", ns)])
    wait_cpus(env, ns, "shared-1", ONLINE)
    apply(env.cp, ns, cpu_template("one-cpu"))
    pods = run_pods(env.cp, ns, [watcher("pinned", ns, "one-cpu")])
    mine = claim_cpus(env, ns, pods["pinned"])
    assert len(mine) == 1 and mine <= ONLINE
    wait_cpus(env, ns, "pinned", mine)
    wait_cpus(env, ns, "shared-1", ONLINE - mine)  # shrunk when the pinned one was created
    run_pods(env.cp, ns, [watcher("shared-2", ns)])
    wait_cpus(env, ns, "shared-2", ONLINE - mine)
    # the claim's pod goes: the running shared containers get its CPU back, with no new
    # container created to carry the update (peer issue #279)
    delete_pods(env.cp, ns, ["pinned"], timeout=60)
    wait_cpus(env, ns, "shared-1", ONLINE)
    wait_cpus(env, ns, "shared-2", ONLINE)


def test_fail_closed_refusal_is_a_clear_event(env: NodeEnv, cpu_plugin: Any, ns: str) -> None:
    cpu_plugin["start"]()
    run_pods(env.cp, ns, [watcher("shared", ns)])
    apply(env.cp, ns, cpu_template("one-cpu"))
    run_pods(env.cp, ns, [watcher("first", ns, "one-cpu")])
    apply(env.cp, ns, watcher("second", ns, "one-cpu"))

    def refusal() -> list[str]:
        items = env.api.get(f"/api/v1/namespaces/{ns}/events")["items"]
        return [
            e["message"]
            for e in items
            if e["involvedObject"].get("name") == "second"
            and "would leave no CPU for the" in e.get("message", "")
        ]

    [message, *_] = wait_until("the fail-closed refusal of pod second", refusal, 60)
    assert "running shared container(s)" in message
    wait_cpus(env, ns, "shared", ONLINE - claim_cpus(env, ns, _pod(env, ns, "first")))


def test_individual_mode_pins_the_cpu_the_scheduler_chose(
    env: NodeEnv, cpu_plugin: Any, ns: str
) -> None:
    cpu_plugin["settings"]["cpu_device_mode"] = "individual"
    cpu_plugin["start"]()
    [s] = env.slices(CPU_DRIVER)
    names = sorted(d["name"] for d in s["spec"]["devices"])
    assert names == [f"cpudev{i:03d}" for i in range(len(ONLINE))]
    apply(env.cp, ns, cpu_template("one-cpu", individual=True))
    pods = run_pods(env.cp, ns, [watcher("pinned", ns, "one-cpu")])
    claim = env.api.get(
        f"{V1}/namespaces/{ns}/resourceclaims/"
        f"{pods['pinned']['status']['resourceClaimStatuses'][0]['resourceClaimName']}"
    )
    [result] = claim["status"]["allocation"]["devices"]["results"]
    [device] = [d for d in s["spec"]["devices"] if d["name"] == result["device"]]
    chosen = frozenset({device["attributes"][f"{CPU_DRIVER}/cpuID"]["int"]})
    assert claim_cpus(env, ns, pods["pinned"]) == chosen
    wait_cpus(env, ns, "pinned", chosen)


def test_restarts_of_drafast_and_containerd_keep_every_pin(
    env: NodeEnv, cpu_plugin: Any, ns: str
) -> None:
    plugin: HostPlugin = cpu_plugin["start"]()
    run_pods(env.cp, ns, [watcher("shared", ns)])
    apply(env.cp, ns, cpu_template("one-cpu"))
    pods = run_pods(env.cp, ns, [watcher("pinned", ns, "one-cpu")])
    mine = claim_cpus(env, ns, pods["pinned"])
    wait_cpus(env, ns, "shared", ONLINE - mine)

    plugin.restart(signal.SIGKILL)  # allocations come back from the checkpoint
    run_pods(env.cp, ns, [watcher("after-kill", ns)])
    wait_cpus(env, ns, "after-kill", ONLINE - mine)
    wait_cpus(env, ns, "pinned", mine)

    env.node.restart_containerd()  # the NRI socket is recreated: drafast redials and resyncs
    plugin.wait_ready(60)
    run_pods(env.cp, ns, [watcher("after-containerd", ns)])
    wait_cpus(env, ns, "after-containerd", ONLINE - mine)
    for pod in ("pinned", "shared", "after-kill"):
        wait_cpus(env, ns, pod, mine if pod == "pinned" else ONLINE - mine)
    assert plugin.running(), plugin.tail()


def _pod(env: NodeEnv, ns: str, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = env.api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    return pod


def test_concurrent_pod_churn_never_stalls_containerd(
    env: NodeEnv, cpu_plugin: Any, ns: str
) -> None:
    """Pinned and shared pods created and deleted in overlapping batches: containerd keeps
    answering (an unsolicited UpdateContainers racing these events could deadlock it for good),
    every pod starts on the right CPUs, and the observer gets every CPU back at the end."""
    plugin: HostPlugin = cpu_plugin["start"]()
    run_pods(env.cp, ns, [watcher("observer", ns)])
    apply(env.cp, ns, cpu_template("one-cpu"))
    previous: list[str] = []
    for round_ in range(4):
        batch = [f"p{round_}", f"s{round_}a", f"s{round_}b"]
        apply(
            env.cp,
            ns,
            watcher(batch[0], ns, "one-cpu"),
            watcher(batch[1], ns),
            watcher(batch[2], ns),
        )
        if previous:  # the last batch goes while this one starts
            env.cp.kubectl("delete", "pod", "-n", ns, "--wait=false", *previous)
        wait_until(
            f"round {round_} running",
            lambda b=batch: all(_pod(env, ns, n)["status"].get("phase") == "Running" for n in b),
            120,
        )
        mine = claim_cpus(env, ns, _pod(env, ns, batch[0]))
        wait_cpus(env, ns, batch[0], mine)
        for shared in batch[1:]:
            wait_cpus(env, ns, shared, ONLINE - mine)
        assert "Server:" in env.node.ctr("version", timeout=10)
        previous = batch
    delete_pods(env.cp, ns, previous, timeout=90)
    wait_cpus(env, ns, "observer", ONLINE)
    assert plugin.running(), plugin.tail()
