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
from wirechat.allocator import GLIBC_TUNABLES, _wanted

glibc = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
    reason="the allocator is switched on glibc only (malloc_trim)",
)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


def _serve_and_read_allocator(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Start the real command; the allocator variables the server ran with, from its
    start-up log line (glibc may rewrite GLIBC_TUNABLES in the process's own copy of
    the environment, so /proc shows only PYTHONMALLOC faithfully)."""
    port = free_port()
    env = env_for(tmp_path, PORT=str(port), WS_PORT=str(free_port()), LOG_LEVEL="info", **extra)
    for name in ("PYTHONMALLOC", "GLIBC_TUNABLES"):
        if name not in extra:
            env.pop(name, None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(WIRECHAT), "serve"], env=env, cwd=tmp_path, stdout=out, stderr=out
        )
        try:
            wait_healthy(port, proc)
            # The same process id serves: it replaced itself rather than starting a
            # child, so a supervisor's signals still reach the server.
            assert _environ(proc.pid).get("PYTHONMALLOC") == extra.get("PYTHONMALLOC", "malloc")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
    line = next(ln for ln in log.read_text().splitlines() if "allocator: " in ln)
    found = dict(part.split("=", 1) for part in line.split("allocator: ", 1)[1].split())
    return {k: v for k, v in found.items() if v != "(unset)"}


@glibc
def test_serve_runs_under_malloc_when_nothing_is_set(tmp_path: Path) -> None:
    assert _serve_and_read_allocator(tmp_path) == {
        "PYTHONMALLOC": "malloc",
        "GLIBC_TUNABLES": GLIBC_TUNABLES,
    }


@glibc
def test_an_explicit_allocator_is_kept(tmp_path: Path) -> None:
    assert _serve_and_read_allocator(tmp_path, PYTHONMALLOC="pymalloc") == {
        "PYTHONMALLOC": "pymalloc"
    }


@glibc
def test_explicit_tunables_are_kept(tmp_path: Path) -> None:
    mine = "glibc.malloc.arena_max=2"
    assert _serve_and_read_allocator(tmp_path, GLIBC_TUNABLES=mine) == {
        "PYTHONMALLOC": "malloc",
        "GLIBC_TUNABLES": mine,
    }


def test_only_an_unset_variable_is_replaced() -> None:
    assert not _wanted({"PYTHONMALLOC": "debug"})
    assert not _wanted({"PYTHONMALLOC": ""})
    assert _wanted({}) == (sys.platform == "linux" and platform.libc_ver()[0] == "glibc")
