"""The ``drafast`` command's imports: what a plugin's start pays for."""

import subprocess
import sys
from pathlib import Path


def test_a_plugin_start_does_not_import_the_kubelet_client() -> None:
    """``drafast run`` parses with the whole parser (``drafast kubelet``'s included) and builds
    the kubelet server, the ops server and its probes; none of them calls the kubelet, so the
    client is imported when first used, not at start."""
    code = (
        "import sys\n"
        "from drafast.app.cli import parse\n"
        "args = parse(['run', 'file', '--node-name=n', '--cluster=dir:/nonexistent'])\n"
        "assert args.kind.name == 'file'\n"
        "import drafast.app.logs, drafast.app.ops, drafast.app.serve, drafast.app.settings\n"
        "import drafast.kubelet\n"
        "assert 'drafast.kubelet.server' in sys.modules\n"
        "assert 'drafast.kubelet.client' not in sys.modules, 'imported at start'\n"
        "from drafast.kubelet import KubeletCallError, KubeletClient\n"
        "assert KubeletClient.__module__ == 'drafast.kubelet.client'\n"
        "assert issubclass(KubeletCallError, Exception)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# Imported on first use, never by a plugin's start: each costs milliseconds of the time from the
# process start to the kubelet's GetInfo (a test of module names, not of timings).
_NOT_AT_START = (
    "yaml",  # dir: store files are JSON unless written as YAML by hand
    "hashlib",  # file names and socket names that need a hash
    "fractions",  # quantities: only devices with capacities or counters
    "drafast.resourceapi.quantity",
    "drafast.resourceapi.claim",  # the claim parser: the first prepare
    "drafast.types._claims",
    "drafast.types._status",
    "drafast.types._containers",
    "drafast.kubelet.client",
    "drafast.app.ops",  # --bind-address "": no ops server
)


def _started(tmp_path: Path, cluster: str, *extra: str) -> set[str]:
    """The modules of a ``drafast run file`` process that started (and stopped) its node role."""
    code = f"""
import asyncio, sys
from drafast.app.cli import parse
from drafast.app.settings import resolve
from drafast.app.serve import serve_until_signalled  # what ``drafast run`` imports
from drafast.app.process import DriverProcess
d = {str(tmp_path)!r}
args = parse(['run', 'file', '--node-name=n', f'--plugin-dir={{d}}/p', f'--registry-dir={{d}}/r',
              f'--cdi-dir={{d}}/c', '--cluster={cluster}', '--bind-address=',
              f'--resource-dir={{d}}/res', '--nri-socket=', *{list(extra)!r}])
opts = resolve(args, {{}}, args.kind)

async def main() -> None:
    async with DriverProcess(opts).running():
        pass

asyncio.run(main())
print(' '.join(sys.modules))
"""
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "dev0").write_text("")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_a_dir_plugin_start_imports_only_what_it_needs(tmp_path: Path) -> None:
    """The offline store publishes before the kubelet plugin serves (the reconciler is needed);
    the rest waits for its first use."""
    mods = _started(tmp_path, f"dir:{tmp_path}/cluster")
    assert "drafast.publish.reconciler" in mods
    assert "drafast.kubelet.server" in mods
    # The dir: ports' claim-status and allocated-claim helpers: when a driver uses them.
    late = {*_NOT_AT_START, "drafast.k8s.status", "drafast.k8s.allocated"}
    assert not mods & late, f"imported at start: {sorted(mods & late)}"


def test_a_kube_plugin_start_leaves_the_publisher_for_later(tmp_path: Path) -> None:
    """With the API server, slices are written in the background after the kubelet registered
    the plugin: the publisher (and yaml, for the kubeconfig) load then."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    mods = _started(tmp_path, "kube", f"--kubeconfig={kubeconfig}")
    assert "drafast.k8s.api" in mods
    late = {*_NOT_AT_START, "drafast.publish", "drafast.k8s.slices"}
    assert not mods & late, f"imported at start: {sorted(mods & late)}"
