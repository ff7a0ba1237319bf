"""``make cluster``: a control plane (and with ``NODE=1`` a real node running drafast's file
driver) in the foreground until Ctrl-C, for poking at by hand with kubectl.

Entry points: ``python -m drafast.testing.cluster.controlplane`` (:func:`controlplane_main`) and
``python -m drafast.testing.cluster.node`` (:func:`node_main`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from drafast.testing.bins import default_bin_dir, missing_binaries
from drafast.testing.cluster.controlplane import ControlPlane
from drafast.testing.cluster.errors import ControlPlaneError
from drafast.testing.cluster.hostplugin import HostPlugin
from drafast.testing.cluster.node import Node
from drafast.testing.images import TESTBOX_IMAGE

__all__ = ["controlplane_main", "node_main"]


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C does: through the ``finally`` that stops everything."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


# -- control plane only ----------------------------------------------------------------------------


def controlplane_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drafast.testing.cluster.controlplane",
        description="Run a real Kubernetes control plane on loopback until Ctrl-C.",
    )
    parser.add_argument(
        "--bin-dir",
        type=Path,
        default=None,
        help="directory with etcd, kube-* and kubectl (default: $DRAFAST_K8S_BIN or the cache)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="state directory (default: a new temp dir, kept after exit)",
    )
    parser.add_argument(
        "--feature-gates",
        default=None,
        help="Gate=true,Other=false for every component (default: the harness defaults)",
    )
    args = parser.parse_args(argv)
    bin_dir: Path = args.bin_dir or default_bin_dir()
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="drafast-cluster-"))
    gates: dict[str, bool] | None = None
    if args.feature_gates is not None:
        gates = {}
        for item in filter(None, args.feature_gates.split(",")):
            key, _, value = item.partition("=")
            gates[key.strip()] = value.strip().lower() in {"", "true", "1"}

    _stop_on_sigterm()
    print(f"==> starting a control plane from {bin_dir} in {workdir}", flush=True)
    try:
        cp = ControlPlane.start(bin_dir, workdir, feature_gates=gates)
    except ControlPlaneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        print(f"==> API server {cp.server} ready", flush=True)
        print(f"kubeconfig: {cp.kubeconfig}")
        print(f"audit log:  {cp.audit_log_path}")
        print(f"logs:       {cp.logs_dir}")
        print(f"export KUBECONFIG={cp.kubeconfig}")
        print("==> press Ctrl-C to stop", flush=True)
        while True:
            time.sleep(1)
            for name, alive in cp.running().items():
                if not alive:
                    print(f"error: {name} exited; see {cp.logs_dir / (name + '.log')}")
                    return 1
    except KeyboardInterrupt:
        print("\n==> stopping", flush=True)
        return 0
    finally:
        cp.stop()


# -- control plane + node + drafast ----------------------------------------------------------------


DEMO_FILES = ("greeting", "notes")
FILE_DEVICE_CLASS = {
    "apiVersion": "resource.k8s.io/v1",
    "kind": "DeviceClass",
    "metadata": {"name": "file.drafast.dev"},
    "spec": {"selectors": [{"cel": {"expression": 'device.driver == "file.drafast.dev"'}}]},
}


def _start_all(
    args: argparse.Namespace, bin_dir: Path, workdir: Path, stack: contextlib.ExitStack
) -> tuple[ControlPlane, Node, HostPlugin | None]:
    print(f"==> starting a control plane from {bin_dir} in {workdir / 'cp'}", flush=True)
    cp = ControlPlane.start(bin_dir, workdir / "cp")
    stack.callback(cp.stop)
    print(f"==> starting containerd + kubelet in {workdir / 'node'}", flush=True)
    node = Node.start(cp, workdir / "node", name=args.node_name, node_bin_dir=args.node_bin_dir)
    stack.callback(node.stop)
    if args.no_drafast:
        return cp, node, None
    files = workdir / "files"
    files.mkdir(parents=True, exist_ok=True)
    for f in DEMO_FILES:
        (files / f).touch()
    cp.kubectl("apply", "-f", "-", input=json.dumps(FILE_DEVICE_CLASS))
    print("==> starting drafast (file driver) as a host process", flush=True)
    plugin = HostPlugin.start(node, workdir / "drafast", settings={"resource_dir": files})
    stack.callback(plugin.stop)
    return cp, node, plugin


def _summary(cp: ControlPlane, node: Node, plugin: HostPlugin | None, workdir: Path) -> None:
    print(f"==> node {node.name} Ready; kubelet {node.kubelet_url}", flush=True)
    print(f"kubeconfig:      {cp.kubeconfig}")
    print(f"logs:            {cp.logs_dir} {node.logs_dir}")
    print(f"kubelet root:    {node.kubelet_root}")
    print(f"CDI spec dir:    {node.cdi_dir}")
    print(f"test image:      {TESTBOX_IMAGE} (imagePullPolicy: Never, hostNetwork: true)")
    if plugin is not None:
        print(
            f"drafast:         file.drafast.dev (DeviceClass applied), files in "
            f"{workdir / 'files'}, log {plugin.log}, metrics {plugin.url}/metrics"
        )
    print(f"export KUBECONFIG={cp.kubeconfig}")
    print("==> press Ctrl-C to stop", flush=True)


def node_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drafast.testing.cluster.node",
        description="Run a control plane + a real node (containerd + kubelet) with drafast's "
        "file driver registered, until Ctrl-C.",
    )
    parser.add_argument("--bin-dir", type=Path, default=None, help="Kubernetes binaries")
    parser.add_argument("--node-bin-dir", type=Path, default=None, help="node-bins.sh output")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="state dir (default: a new temp dir)"
    )
    parser.add_argument("--node-name", default=None, help="default: see default_node_name()")
    parser.add_argument("--no-drafast", action="store_true", help="do not start the file driver")
    args = parser.parse_args(argv)
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="drafast-cluster-"))

    _stop_on_sigterm()
    bin_dir = args.bin_dir or default_bin_dir()
    missing = missing_binaries(bin_dir, ("etcd", "kube-apiserver", "kubectl", "kubelet"))
    if missing:
        print(f"error: missing in {bin_dir}: {', '.join(missing)} (make cluster-bins)")
        return 1
    with contextlib.ExitStack() as stack:
        try:
            cp, node, plugin = _start_all(args, bin_dir, workdir, stack)
        except (ControlPlaneError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        try:
            _summary(cp, node, plugin, workdir)
            while True:
                time.sleep(1)
                for name, alive in {**cp.running(), **node.running()}.items():
                    if not alive:
                        print(f"error: {name} exited", file=sys.stderr)
                        return 1
                if plugin is not None and not plugin.running():
                    print(f"error: drafast exited; see {plugin.log}", file=sys.stderr)
                    return 1
        except KeyboardInterrupt:
            print("\n==> stopping", flush=True)
            return 0
    return 0
