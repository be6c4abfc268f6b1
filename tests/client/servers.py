"""The two servers the client suite runs against, as real processes.

- ``wirechat``: ``wirechat serve`` on SQLite;
- ``node``: the benchmark's Node baseline (express + ``@trpc/server`` 11.25 + ``ws``,
  ``bench/baseline-node``), the stock TypeScript stack, with its own ``npm ci``.

Both are started on free loopback ports with a data directory that survives
:meth:`Server.restart`, which stops the process with SIGTERM (both servers then tell
their WebSocket clients to reconnect) and starts it again on the same ports.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from support.net import free_port
from support.node import unavailable

__all__ = ["BASELINE_DIR", "Server", "baseline_modules"]

ROOT = Path(__file__).resolve().parents[2]
BASELINE_DIR = ROOT / "bench" / "baseline-node"
WIRECHAT = Path(sys.executable).parent / "wirechat"

ENV = {
    "HOST": "127.0.0.1",
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_COST": "8192",
    "ARGON2_PARALLELISM": "1",
    "JWT_SECRET": "client-suite-secret-of-at-least-32-bytes",
    "LOG_LEVEL": "warning",
    "DEV_MODE": "false",
    "RATE_LIMIT_MESSAGES": "1000000",
    # Every suite user signs up from 127.0.0.1; the per-address limits are tested elsewhere.
    "RATE_LIMIT_REGISTER": "1000000/1s",
    "RATE_LIMIT_LOGIN": "1000000/1s",
    "RATE_LIMIT_FAILED_LOGINS": "1000000/1s",
    "RATE_LIMIT_REFRESH": "1000000/1s",
    "RATE_LIMIT_CHANGE_PASSWORD": "1000000/1s",
    "RATE_LIMIT_ROOMS": "1000000/1s",
    "RATE_LIMIT_EDITS": "1000000/1s",
    "NODE_ENV": "production",
}


def baseline_modules() -> Path:
    """``bench/baseline-node/node_modules``, installed with ``npm ci`` if missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node/npm not found on PATH")
    modules = BASELINE_DIR / "node_modules"
    if not (modules / ".installed").exists():
        assert npm is not None
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=BASELINE_DIR,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if result.returncode != 0:
            unavailable(f"npm ci in bench/baseline-node failed:\n{result.stdout}\n{result.stderr}")
        (modules / ".installed").touch()
    return modules


class Server:
    """One server process; ``kind`` is ``"wirechat"`` or ``"node"``."""

    def __init__(self, kind: str, **env: str) -> None:
        self.kind = kind
        self.extra_env = env
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"wirechat-client-{kind}-"))
        self.log_path = self.data_dir / "server.log"
        self.port = free_port()
        self.ws_port = free_port()
        while self.ws_port == self.port:
            self.ws_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The tRPC base URL."""
        return f"http://127.0.0.1:{self.port}/trpc"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def start(self, within: float = 60.0) -> None:
        env = {
            **os.environ,
            **ENV,
            "PORT": str(self.port),
            "WS_PORT": str(self.ws_port),
            "DATA_DIR": str(self.data_dir / "data"),
            **self.extra_env,
        }
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        if self.kind == "wirechat":
            cmd, cwd = [str(WIRECHAT), "serve"], self.data_dir
        else:
            cmd, cwd = ["node", "--import", "tsx", "src/server.ts"], BASELINE_DIR
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} exited at start:\n{self.log()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"{self.kind} not ready within {within} s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def assert_alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, (
            f"{self.kind} died:\n{self.log()}"
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
