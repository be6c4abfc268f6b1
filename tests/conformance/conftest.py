"""Real server processes for the conformance suite (session-scoped, started once).

``servers`` holds three processes, all serving ``demo_app``:

- ``main``: ``wirechat serve --app demo_app:build`` with short keep-alive timers
  (SSE ping 300 ms, WS PING after 1 s idle, 0.5 s to answer);
- ``alt``: ``alt_server.py`` with method override on, maxBatchSize 2, SSE
  maxDurationMs 800, JSONL ping 50 ms and no SSE ping / inactivity option;
- ``nobatch``: ``alt_server.py`` with batching disabled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.net import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV_BIN = Path(sys.executable).parent

MAIN_ENV = {
    "SSE_PING_MS": "300",
    "SSE_RECONNECT_AFTER_INACTIVITY_MS": "5000",
    "WS_PING_INTERVAL_SECONDS": "1",
    "WS_PONG_TIMEOUT_SECONDS": "0.5",
    "MAX_BATCH_SIZE": "50",
}


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    ws_port: int | None
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def trpc(self) -> str:
        return f"{self.http}/trpc"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _start(name: str, args: list[str], env: dict[str, str], tmp: Path) -> Server:
    port = free_port()
    ws_port = free_port() if name == "main" else None
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "info",
        "DEV_MODE": "false",
        **env,
    }
    if ws_port is not None:
        full_env["WS_PORT"] = str(ws_port)
    log = tmp / f"{name}.log"
    proc = subprocess.Popen(
        args, cwd=tmp, env=full_env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    return Server(name, proc, port, ws_port, log)


def _wait_healthy(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} server exited:\n{server.output()}")
        try:
            if httpx.get(f"{server.http}/health", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} server did not answer /health:\n{server.output()}")


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    tmp = tmp_path_factory.mktemp("servers")
    alt = [sys.executable, str(HERE / "alt_server.py")]
    started = {
        "main": _start(
            "main", [str(VENV_BIN / "wirechat"), "serve", "--app", "demo_app:build"], MAIN_ENV, tmp
        ),
        "alt": _start(
            "alt",
            alt,
            {
                "ALT_METHOD_OVERRIDE": "1",
                "ALT_MAX_BATCH_SIZE": "2",
                "ALT_SSE_MAX_DURATION_MS": "800",
                "ALT_JSONL_PING_MS": "50",
            },
            tmp,
        ),
        "nobatch": _start("nobatch", alt, {"ALT_BATCHING": "0"}, tmp),
    }
    try:
        deadline = time.monotonic() + 20
        for server in started.values():
            _wait_healthy(server, deadline)
        yield started
    finally:
        for server in started.values():
            server.proc.terminate()
        for server in started.values():
            try:
                server.proc.wait(5)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()


@pytest.fixture(scope="session")
def main_server(servers: dict[str, Server]) -> Server:
    return servers["main"]


@pytest.fixture(autouse=True)
def servers_stay_up(servers: dict[str, Server]) -> Iterator[None]:
    """Fail the test during which a server process died, with its exit status and log."""
    yield
    for server in servers.values():
        status = server.proc.poll()
        if status is not None:
            pytest.fail(f"{server.name} server exited with status {status}:\n{server.output()}")
