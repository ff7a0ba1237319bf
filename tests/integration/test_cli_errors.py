"""``drafast`` as a person meets it: bad settings are one line and exit 2, a failed start leaves
no socket behind, signals and the watchdog end the process, every flag has an env var."""

import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cli_run import drafast

from drafast.app import schema
from drafast.app.drivers import BUILTIN
from drafast.app.settings import RunOptions
from drafast.testing import start_file_plugin

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"
DRAFAST = [sys.executable, "-m", "drafast"]


def run_file(root: Path, *extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    (root / "files").mkdir(exist_ok=True)
    base = ["run", "file", "--node-name", "n", "--plugin-dir", str(root / "p")]
    base += ["--registry-dir", str(root / "r"), "--cdi-dir", str(root / "cdi")]
    base += ["--cluster", f"dir:{root / 'c'}", "--resource-dir", str(root / "files")]
    return drafast(*base, *extra, env=env, cwd=root)


def assert_one_line_error(out, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("drafast: error:")]
    assert len(errors) == 1, out.stderr
    assert expected in errors[0], errors[0]


def test_version() -> None:
    out = drafast("--version")
    assert out.returncode == 0 and re.fullmatch(r"drafast \S+\n", out.stdout)


@pytest.mark.parametrize(
    ("extra", "env", "config", "expected"),
    [
        ([], {}, "resync_seconds: fast\n", "--resync-seconds 'fast': expected a number"),
        ([], {}, "serialize: maybe\n", "--serialize 'maybe': expected true or false"),
        ([], {}, "shared_files: [1]\n", "--shared-files [1]: expected true or false"),
        (["--bind-address", "nonsense"], {}, None, "--bind-address nonsense: expected host:port"),
        (["--bind-address", "::1:80"], {}, None, "must be in brackets"),
        ([], {"LOG_LEVEL": "verbose"}, None, "--log-level 'verbose': expected one of debug"),
        (["--cluster", "dir:"], {}, None, "--cluster dir:: expected 'kube' or 'dir:PATH'"),
        (["--resync-seconds", "0"], {}, None, "--resync-seconds 0.0: must be more than 0"),
        (["--grace-seconds", "-1"], {}, None, "--grace-seconds -1.0: must not be negative"),
        (["--resource-dir", "/nonexistent/x"], {}, None, "--resource-dir /nonexistent/x: not a"),
        (["--plugin-dir", "afile"], {}, None, "afile: not a directory"),
        (["--role", "controller"], {}, None, "--role controller: driver file runs only as node"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(
    tmp_path: Path, extra: list[str], env: dict[str, str], config: str | None, expected: str
) -> None:
    (tmp_path / "afile").write_text("")
    if config is not None:
        (tmp_path / "c.yaml").write_text(config)
        extra = [*extra, "--config", str(tmp_path / "c.yaml")]
    out = run_file(tmp_path, *extra, env=env)
    assert_one_line_error(out, expected)
    assert not list(tmp_path.rglob("*.sock"))


def test_unknown_drivers_are_named(tmp_path: Path) -> None:
    assert_one_line_error(drafast("run", "nosuch"), "unknown driver 'nosuch'; known: cpu, file, nx")
    out = drafast("run", "no_such_module:KIND")
    assert_one_line_error(out, "driver 'no_such_module:KIND': cannot import module")


def test_a_failed_start_leaves_no_socket(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_file(tmp_path, "--bind-address", f"127.0.0.1:{port}")
    assert_one_line_error(out, f"--bind-address 127.0.0.1:{port}: cannot listen")
    assert not list(tmp_path.rglob("*.sock"))


def test_ipv6_bind_address_in_brackets(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    proc, _ = start_file_plugin(tmp_path, "--bind-address", "[::1]:0", stderr=subprocess.PIPE)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"ops endpoint serving address=[::1]:" in err


def test_start_logs_version_and_effective_settings(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    proc, _ = start_file_plugin(tmp_path, stderr=subprocess.PIPE, text=True)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    [line] = [x for x in err.splitlines() if "drafast starting" in x]
    assert "version=" in line and "'node_name': 'node-1'" in line and "'cluster': 'dir:" in line


def test_kubelet_command_names_a_missing_socket(tmp_path: Path) -> None:
    out = drafast("kubelet", "prepare", "--dra-socket", str(tmp_path / "dra.sock"), "a/b/c")
    assert_one_line_error(out, f"DRA socket {tmp_path / 'dra.sock'} does not exist")
    out = drafast("kubelet", "register", "--driver", "x.example.com", "--registry-dir", "/tmp")
    assert_one_line_error(out, "registration socket /tmp/x.example.com-reg.sock does not exist")


def test_a_closed_pipe_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a").write_text("")
    plugin, reg = start_file_plugin(tmp_path)
    try:
        reader = subprocess.Popen(
            [*DRAFAST, "kubelet", "health", "--count", "3", "--registration-socket", str(reg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout is not None
        reader.stdout.close()  # what `| head -c0` does: nobody reads the output
        assert reader.wait(timeout=60) == 2
        err = reader.stderr.read() if reader.stderr else ""
        assert "Traceback" not in err and "broken pipe" in err, err
    finally:
        plugin.kill()
        plugin.wait()


SLOW_STOP = textwrap.dedent(
    """
    import asyncio, sys
    from drafast.app import lifecycle

    lifecycle.WATCHDOG_MARGIN_SECONDS = float(sys.argv[1])

    async def main():
        stop = lifecycle.SignalStop(0.0)
        stop.install()
        print("ready", flush=True)
        await stop.event.wait()
        print("stopping", flush=True)
        await asyncio.shield(asyncio.sleep(60))  # a stop that hangs

    asyncio.run(main())
    """
)


@pytest.mark.parametrize(("margin", "signals", "code"), [(60.0, 2, 128 + 15), (0.5, 1, 1)])
def test_second_signal_and_watchdog_end_a_stuck_shutdown(
    margin: float, signals: int, code: int
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_STOP, str(margin)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline() == "stopping\n"
    if signals == 2:
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == code


def test_every_setting_has_an_env_var_in_help_and_readme() -> None:
    readme = README.read_text()
    for cls in [RunOptions, *(k.settings for k in BUILTIN.values())]:
        for s in schema.settings_of(cls):
            assert s.info.env, f"{s.info.flag} has no environment variable"
            assert f"`{s.info.env}`" in readme, f"README does not list {s.info.env}"
            assert f"`{s.info.flag}`" in readme, f"README does not list {s.info.flag}"
    for name in BUILTIN:
        out = drafast("run", name, "--help")
        assert out.returncode == 0
        help_text = " ".join(out.stdout.split())
        for s in schema.settings_of(RunOptions):
            assert s.info.env and s.info.env in help_text
        for s in schema.settings_of(BUILTIN[name].settings):  # the driver's own, after its name
            assert s.info.flag in help_text and str(s.info.env) in help_text
