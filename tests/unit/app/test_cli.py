"""The ``drafast`` command's imports: what a plugin's start pays for."""

import subprocess
import sys


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
