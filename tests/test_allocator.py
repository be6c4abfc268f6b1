"""``wirechat serve`` runs its objects on glibc's malloc unless PYTHONMALLOC says otherwise."""

from __future__ import annotations

import platform
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.net import free_port
from test_cli import WIRECHAT, env_for, wait_healthy
from wirechat.allocator import _wanted

glibc = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
    reason="the allocator is switched on glibc only (malloc_trim)",
)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


def _serve_and_read_allocator(tmp_path: Path, **extra: str) -> str | None:
    """Start the real command, read the allocator of the process it became, stop it."""
    port = free_port()
    env = env_for(tmp_path, PORT=str(port), WS_PORT=str(free_port()), **extra)
    if "PYTHONMALLOC" not in extra:
        env.pop("PYTHONMALLOC", None)
    proc = subprocess.Popen(
        [str(WIRECHAT), "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(port, proc)
        # The same process id serves: it replaced itself rather than forking a child,
        # so a supervisor's signals still reach the server.
        return _environ(proc.pid).get("PYTHONMALLOC")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


@glibc
def test_serve_runs_under_malloc_when_nothing_is_set(tmp_path: Path) -> None:
    assert _serve_and_read_allocator(tmp_path) == "malloc"


@glibc
def test_an_explicit_allocator_is_kept(tmp_path: Path) -> None:
    assert _serve_and_read_allocator(tmp_path, PYTHONMALLOC="pymalloc") == "pymalloc"


def test_only_an_unset_variable_is_replaced() -> None:
    assert not _wanted({"PYTHONMALLOC": "debug"})
    assert not _wanted({"PYTHONMALLOC": ""})
    assert _wanted({}) == (sys.platform == "linux" and platform.libc_ver()[0] == "glibc")
