"""Socket names (incl. the rolling-update fallbacks at the 108-byte limit) and socket files."""

import base64
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from drafast.config import KubeletSettings
from drafast.errors import SocketError
from drafast.kubelet import sockets
from drafast.types import DriverName

DRIVER = "gpu.example.com"
POD_UID = "6f1c2a4e-8d3b-4f5a-9c7e-2b1d0e9f8a7c"
# Golden values, computed once; the algorithm must match the Go helper's.
H8 = "xKMhHFCMsGE"
H16 = "708H2gFffsoqjJvXJsA5zg"

NAME_UID = f"{DRIVER}-{POD_UID}-reg.sock"  # 61 bytes
NAME_H8 = f"{DRIVER}-{H8}-reg.sock"  # 36 bytes
NAME_H16 = f"dra-{H16}-reg.sock"  # 35 bytes


# Naming is a pure computation: nothing is created, so these tests use a fixed root like the
# kubelet's. That lets them hit the byte limit exactly, which tmp_path (already ~60 bytes of the
# 107) cannot do for the 61-byte first candidate. Tests that touch files use tmp_path.
ROOT = Path("/var/lib/kubelet/plugins_registry")


def dir_of(base: Path, total: int, name: str) -> Path:
    """A directory below ``base`` such that ``<dir>/<name>`` is exactly ``total`` bytes long."""
    pad = total - len(os.fsencode(base)) - 2 - len(name)
    assert pad > 0
    return base / ("d" * pad)


def test_golden_hashes_follow_the_documented_rule() -> None:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    assert b64(hashlib.sha256(POD_UID.encode()).digest()[:8]) == H8
    assert b64(hashlib.sha256(f"{DRIVER}\0{POD_UID}".encode()).digest()[:16]) == H16
    assert "=" not in H8 + H16


def test_registration_socket_without_pod_uid(tmp_path: Path) -> None:
    assert sockets.registration_socket(tmp_path, DRIVER) == tmp_path / f"{DRIVER}-reg.sock"


def test_registration_socket_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = sockets.registration_socket(Path("registry"), DRIVER)
    assert path == tmp_path / "registry" / f"{DRIVER}-reg.sock"


@pytest.mark.parametrize(
    ("total", "name", "expected"),
    [
        (107, NAME_UID, NAME_UID),  # exactly at the limit: still the readable name
        (108, NAME_UID, NAME_H8),
        (107, NAME_H8, NAME_H8),
        (108, NAME_H8, NAME_H16),
        (107, NAME_H16, NAME_H16),
    ],
)
def test_rolling_update_fallbacks(total: int, name: str, expected: str) -> None:
    registry = dir_of(ROOT, total, name)
    path = sockets.registration_socket(registry, DRIVER, POD_UID)
    assert path == registry / expected
    assert len(os.fsencode(path)) <= 107


def test_rolling_update_default_dir() -> None:
    assert sockets.registration_socket(ROOT, DRIVER, POD_UID) == ROOT / NAME_UID
    # Longer (valid) driver names overflow even in the default directory.
    driver = "accelerator-partition." + "x" * 10 + ".example.com"
    assert sockets.registration_socket(ROOT, driver, POD_UID) == ROOT / f"{driver}-{H8}-reg.sock"
    driver = "accelerator-partition." + "x" * 29 + ".example.com"
    h16 = base64.urlsafe_b64encode(
        hashlib.sha256(f"{driver}\0{POD_UID}".encode()).digest()[:16]
    ).rstrip(b"=")
    assert (
        sockets.registration_socket(ROOT, driver, POD_UID) == ROOT / f"dra-{h16.decode()}-reg.sock"
    )


def test_last_fallback_is_used_even_if_too_long() -> None:
    registry = dir_of(ROOT, 108, NAME_H16)
    path = sockets.registration_socket(registry, DRIVER, POD_UID)
    assert path == registry / NAME_H16
    assert not sockets.fits(path)


def test_length_counts_bytes_not_characters() -> None:
    # "é" is two bytes in UTF-8: 106 characters but 107 bytes still fits; one more does not.
    base = dir_of(ROOT, 107, NAME_UID)
    accented = base.with_name(base.name[:-2] + "é")
    assert len(str(accented / NAME_UID)) == 106
    assert sockets.registration_socket(accented, DRIVER, POD_UID).name == NAME_UID
    longer = base.with_name(base.name[:-1] + "é")
    assert sockets.registration_socket(longer, DRIVER, POD_UID).name == NAME_H8


def test_dra_socket_names(tmp_path: Path) -> None:
    assert sockets.dra_socket(tmp_path) == tmp_path / "dra.sock"
    assert sockets.dra_socket(tmp_path, POD_UID) == tmp_path / f"dra-{POD_UID}.sock"


@pytest.mark.parametrize(
    ("total", "expected"),
    [(107, f"dra-{POD_UID}.sock"), (108, f"dra-{H8}.sock")],
)
def test_dra_socket_rolling_update_fallback(total: int, expected: str) -> None:
    """A long plugin dir (the kubelet's root dir is configurable) falls back to the hashed
    name, which the kubelet learns from GetInfo like any other."""
    plugin_dir = dir_of(Path("/var/lib/kubelet/plugins"), total, f"dra-{POD_UID}.sock")
    assert sockets.dra_socket(plugin_dir, POD_UID) == plugin_dir / expected


def settings(plugin_dir: Path, registry_dir: Path, pod_uid: str | None = None) -> KubeletSettings:
    return KubeletSettings(
        driver_name=DriverName(DRIVER),
        plugin_dir=plugin_dir,
        registry_dir=registry_dir,
        pod_uid=pod_uid,
    )


def test_socket_paths(tmp_path: Path) -> None:
    paths = sockets.socket_paths(settings(tmp_path / "plugins", tmp_path / "registry"))
    assert paths.dra == tmp_path / "plugins" / "dra.sock"
    assert paths.registration == tmp_path / "registry" / f"{DRIVER}-reg.sock"
    rolling = sockets.socket_paths(settings(tmp_path / "plugins", tmp_path / "registry", POD_UID))
    assert rolling.dra == tmp_path / "plugins" / f"dra-{POD_UID}.sock"
    assert rolling.registration == sockets.registration_socket(
        tmp_path / "registry", DRIVER, POD_UID
    )


def test_check_paths_creates_missing_directories(tmp_path: Path) -> None:
    paths = sockets.socket_paths(settings(tmp_path / "a" / "plugins", tmp_path / "registry"))
    sockets.check_paths(paths)
    assert paths.dra.parent.is_dir()
    assert paths.registration.parent.is_dir()
    assert not paths.dra.exists()


def test_check_paths_directory_blocked_by_a_file(tmp_path: Path) -> None:
    (tmp_path / "plugins").write_text("")
    paths = sockets.socket_paths(settings(tmp_path / "plugins", tmp_path / "registry"))
    with pytest.raises(SocketError, match="DRA socket directory"):
        sockets.check_paths(paths)


def test_dra_socket_too_long_names_path_and_length(tmp_path: Path) -> None:
    plugin_dir = dir_of(tmp_path, 108, "dra.sock")  # 108 bytes: one too many
    with pytest.raises(SocketError) as err:
        sockets.check_paths(sockets.socket_paths(settings(plugin_dir, tmp_path)))
    assert str(plugin_dir / "dra.sock") in str(err.value)
    assert "108 bytes" in str(err.value)
    assert not plugin_dir.exists()  # refused before creating anything


def test_registration_socket_too_long(tmp_path: Path) -> None:
    registry = dir_of(tmp_path, 108, NAME_H16)
    short_plugin_dir = Path("/run")  # only checked, never created: keeps the DRA socket short
    with pytest.raises(SocketError, match=r"registration socket path .* is 108 bytes"):
        sockets.check_paths(sockets.socket_paths(settings(short_plugin_dir, registry, POD_UID)))


@pytest.fixture
def bound(tmp_path: Path) -> Iterator[Path]:
    """A socket file whose listener is already closed (what a crashed plugin leaves)."""
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
    yield path


def test_remove_stale_removes_a_socket(bound: Path) -> None:
    sockets.remove_stale(bound)
    assert not bound.exists()


def test_remove_stale_ignores_missing(tmp_path: Path) -> None:
    sockets.remove_stale(tmp_path / "absent.sock")


def test_remove_stale_refuses_other_files(tmp_path: Path, bound: Path) -> None:
    regular = tmp_path / "file.sock"
    regular.write_text("keep me")
    directory = tmp_path / "dir.sock"
    directory.mkdir()
    link = tmp_path / "link.sock"
    link.symlink_to(bound)
    for path in (regular, directory, link):
        with pytest.raises(SocketError, match="not a socket; refusing"):
            sockets.remove_stale(path)
    assert regular.read_text() == "keep me"
    assert directory.is_dir()
    assert link.is_symlink()
    assert bound.is_socket()


def test_remove_own_only_removes_our_socket(bound: Path) -> None:
    ours = sockets.identity(bound)
    assert ours is not None
    # A successor replaced the file with its own socket (bound while ours still existed, so
    # the inode differs): not ours to remove.
    successor = bound.with_name("successor.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(successor))
    successor.replace(bound)
    assert sockets.identity(bound) != ours
    assert not sockets.remove_own(bound, ours)
    assert bound.is_socket()
    assert sockets.remove_own(bound, sockets.identity(bound))
    assert not bound.exists()
    assert not sockets.remove_own(bound, ours)
    assert not sockets.remove_own(bound, None)
