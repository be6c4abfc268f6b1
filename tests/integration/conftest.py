"""The chat application as a real process: ``wirechat serve`` on free loopback ports.

Every test runs once per database (``db`` = ``sqlite`` / ``postgres``). PostgreSQL gets
a fresh database per test session (``wirechat_it_<random>``), dropped at the end; when
the server at 127.0.0.1:5432 is unreachable the postgres half is skipped, or fails when
``CI`` is set.

- ``server``: one process per database for the whole session (rate limit raised so
  load tests are not throttled);
- ``start_server``: a factory for processes with other settings (stopped after the test);
- ``api``: :class:`~.clients.Api` on ``server``; ``ws``: a factory of
  :class:`~.clients.WSClient` connections, closed after the test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import node as support_node
from support.net import free_port

from .clients import Api, WSClient

ROOT = Path(__file__).resolve().parents[2]
WIRECHAT = Path(sys.executable).parent / "wirechat"
NODE_DIR = support_node.NODE_DIR

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"

BASE_ENV = {
    "HOST": "127.0.0.1",
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_COST": "8192",
    "ARGON2_PARALLELISM": "1",
    "JWT_SECRET": "integration-test-secret-0123456789abcdef",
    "LOG_LEVEL": "warning",
    "DEV_MODE": "false",
    # Limits out of the way of tests that are not about them (each limit's own test
    # sets it low).
    "RATE_LIMIT_EDITS": "1000000/1s",
    "RATE_LIMIT_ROOMS": "1000000/1s",
    "RATE_LIMIT_TYPING": "1000000/1s",
    "RATE_LIMIT_REGISTER": "1000000/1s",
    "RATE_LIMIT_LOGIN": "1000000/1s",
    "RATE_LIMIT_FAILED_LOGINS": "1000000/1s",
    "RATE_LIMIT_REFRESH": "1000000/1s",
    "RATE_LIMIT_CHANGE_PASSWORD": "1000000/1s",
    "MAX_QUEUED_HASHES": "100000",
}


@dataclass
class Server:
    """A running ``wirechat serve``."""

    db: str
    proc: subprocess.Popen[bytes]
    port: int
    ws_port: int
    data_dir: Path
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def trpc_url(self) -> str:
        return f"{self.http_url}/trpc"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def assert_alive(self) -> None:
        code = self.proc.poll()
        assert code is None, f"the {self.db} server exited with status {code}:\n{self.log()}"

    def stop(self, within: float = 5.0) -> float:
        """SIGTERM; assert exit status 0 within ``within`` seconds; return the time taken."""
        if self.proc.poll() is not None:
            raise AssertionError(f"server died early ({self.proc.returncode}):\n{self.log()}")
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"server still running {within} s after SIGTERM:\n{self.log()}"
            ) from None
        took = time.monotonic() - started
        assert code == 0, f"exit status {code} after SIGTERM:\n{self.log()}"
        shutil.rmtree(self.data_dir, ignore_errors=True)  # kept when something failed
        return took


def _start(db: str, database_url: str | None, env: dict[str, str]) -> Server:
    data_dir = Path(tempfile.mkdtemp(prefix=f"wirechat-it-{db}-"))
    log_path = data_dir / "server.log"
    for _attempt in range(3):
        port, ws_port = free_port(), free_port()
        full_env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            **BASE_ENV,
            "DATA_DIR": str(data_dir),
            "PORT": str(port),
            "WS_PORT": str(ws_port),
            **({"DATABASE_URL": database_url} if database_url else {}),
            **env,
        }
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [str(WIRECHAT), "serve"],
                cwd=data_dir,  # no stray .env from the repository
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = Server(db, proc, port, ws_port, data_dir, log_path)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if httpx.get(f"{server.http_url}/health", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            raise AssertionError(f"server did not answer /health within 20 s:\n{server.log()}")
        if "set PORT" not in server.log() and "set WS_PORT" not in server.log():
            break  # not a port race: report it
    raise AssertionError(f"server exited at start ({proc.returncode}):\n{server.log()}")


# ---- databases ---------------------------------------------------------------------------


async def _pg(statement: str) -> None:
    import asyncpg

    last: Exception | None = None
    for database in ("postgres", "test"):
        try:
            conn = await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user=PG_USER, database=database, timeout=5
            )
        except Exception as exc:
            last = exc
            continue
        try:
            await conn.execute(statement)
        finally:
            await conn.close()
        return
    assert last is not None
    raise last


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def db(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    """``(name, DATABASE_URL)``; SQLite is the default file in each server's DATA_DIR."""
    if request.param == "sqlite":
        yield "sqlite", None
        return
    name = f"wirechat_it_{secrets.token_hex(6)}"
    try:
        asyncio.run(_pg(f"CREATE DATABASE {name}"))
    except Exception as exc:
        reason = f"PostgreSQL at {PG_HOST}:{PG_PORT} unreachable: {type(exc).__name__}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield "postgres", f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(_pg(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def server(db: tuple[str, str | None]) -> Iterator[Server]:
    """The shared process of one database; rate limit raised for the load tests."""
    srv = _start(db[0], db[1], {"RATE_LIMIT_MESSAGES": "1000000"})
    yield srv
    srv.stop()


@pytest.fixture
def start_server(db: tuple[str, str | None]) -> Iterator[Callable[..., Server]]:
    """Start another process on the same database with extra settings (``NAME=value``)."""
    started: list[Server] = []

    def start(**env: str) -> Server:
        srv = _start(db[0], db[1], env)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        if srv.proc.poll() is None:
            srv.stop()
        elif srv.proc.returncode == 0:
            shutil.rmtree(srv.data_dir, ignore_errors=True)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=15, limits=limits) as client:
        yield client


@pytest.fixture
def api(server: Server, http: httpx.AsyncClient) -> Api:
    server.assert_alive()
    return Api(server.trpc_url, http)


@pytest.fixture
async def ws(server: Server) -> AsyncIterator[Callable[..., Any]]:
    """``await ws(token=None, url=None, **kw)`` opens a connection, closed after the test."""
    opened: list[WSClient] = []

    async def connect(token: str | None = None, url: str | None = None, **kw: Any) -> WSClient:
        client = await WSClient.connect(url or server.ws_url, token, **kw)
        opened.append(client)
        return client

    yield connect
    await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The conformance suite's node_modules (pinned @trpc/client), installed if missing."""
    return support_node.node_modules()
