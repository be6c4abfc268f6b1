"""Several ``wirechat serve`` processes sharing one PostgreSQL database and one Redis.

- ``database``: a fresh PostgreSQL database per test module (``wirechat_so_<random>``),
  migrated once, dropped afterwards. Its room ids start at a random large number, so
  the Redis topics ``room:<id>`` of this module cannot collide with those of another
  wirechat running against the same Redis (topics are global to a Redis server).
- ``cluster``: ``cluster(n, **env)`` starts ``n`` processes on free ports on that
  database and Redis; every process still running is stopped after the test.
- ``redis_admin``: a separate Redis connection for the test itself (CLIENT KILL of
  the connections it named, restarts). It deletes no keys: every module's processes
  keep theirs under their own namespace (derived from the module's fresh database),
  and other runs using the same Redis meanwhile (another checkout, CI) must not lose
  theirs.

PostgreSQL or Redis unreachable: the tests are skipped, or fail when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import node as support_node
from support.net import free_port

from .clients import Api, Proc

ROOT = Path(__file__).resolve().parents[2]
WIRECHAT = Path(sys.executable).parent / "wirechat"
NODE_DIR = support_node.NODE_DIR

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
JWT_SECRET = f"scaleout-{secrets.token_hex(16)}"

BASE_ENV = {
    "HOST": "127.0.0.1",
    "REDIS_URL": REDIS_URL,
    "JWT_SECRET": JWT_SECRET,
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_COST": "8192",
    "ARGON2_PARALLELISM": "1",
    "RATE_LIMIT_MESSAGES": "100000",
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


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


# ---- PostgreSQL ---------------------------------------------------------------------------


async def _pg(statement: str, database: str = "postgres") -> Any:
    import asyncpg

    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database=database, timeout=5
    )
    try:
        return await conn.fetchval(statement)
    finally:
        await conn.close()


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": tempfile.mkdtemp()}
    subprocess.run([str(WIRECHAT), "migrate"], env=env, check=True, capture_output=True, timeout=60)


async def randomize_ids(database: str, start: int | None = None) -> int:
    """Start room and user ids at a random large number (or ``start``).

    Redis names (topics ``room:<id>``, ``wirechat:ratelimit:send:<user id>``) carry
    these ids and nothing of the database, so this keeps the module's traffic apart
    from any other wirechat using the same Redis meanwhile.
    """
    start = start or secrets.randbelow(10**9) + 10**6
    name = database.rpartition("/")[2]
    for table in ("rooms", "users"):
        await _pg(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {start})", name)
    return start


@contextlib.contextmanager
def fresh_database(ids_start: int | None = None) -> Iterator[str]:
    """A new migrated database ``wirechat_so_<random>`` (its URL), dropped afterwards."""
    name = f"wirechat_so_{secrets.token_hex(6)}"
    try:
        asyncio.run(_pg(f"CREATE DATABASE {name}"))
    except Exception as exc:
        _unavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT} unreachable: {type(exc).__name__}: {exc}")
    url = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    try:
        migrate(url)
        asyncio.run(randomize_ids(name, ids_start))
        yield url
    finally:
        asyncio.run(_pg(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """``DATABASE_URL`` of a fresh, migrated database of this module."""
    with fresh_database() as url:
        yield url


# ---- Redis --------------------------------------------------------------------------------


def redis_client(client_name: str | None = None, port: int = REDIS_PORT) -> Any:
    import redis

    return redis.Redis(
        host=REDIS_HOST,
        port=port,
        socket_timeout=5,
        socket_connect_timeout=2,
        client_name=client_name,
    )


@pytest.fixture(scope="module")
def redis_admin() -> Iterator[Any]:
    """A Redis connection of the test's own."""
    client = redis_client()
    try:
        client.ping()
    except Exception as exc:
        _unavailable(f"Redis at {REDIS_HOST}:{REDIS_PORT} unreachable: {type(exc).__name__}: {exc}")
    yield client
    client.close()


def wait_redis(up: bool, within: float = 15.0, port: int = REDIS_PORT) -> None:
    """Until Redis answers PING (``up``) or refuses connections (not ``up``)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        client = redis_client(port=port)
        try:
            answered = bool(client.ping())
        except Exception:
            answered = False
        finally:
            client.close()
        if answered == up:
            return
        time.sleep(0.05)
    raise AssertionError(f"Redis still {'down' if up else 'up'} after {within} s")


class PrivateRedis:
    """A ``redis-server`` of the test's own on a free port, to stop and start at will:
    the machine's Redis, and whatever else uses it meanwhile (another checkout, CI),
    never notices."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://{REDIS_HOST}:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                "redis-server",
                "--bind", REDIS_HOST,
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_redis(up=True, port=self.port)

    def stop(self) -> None:
        """Shut it down, as ``SHUTDOWN NOSAVE`` would; returns once it refuses connections."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._proc = None
        wait_redis(up=False, port=self.port)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        _unavailable("redis-server not installed: the outage test runs a Redis of its own")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---- processes ----------------------------------------------------------------------------


def _spawn(database_url: str, env: dict[str, str]) -> Proc:
    data_dir = Path(tempfile.mkdtemp(prefix="wirechat-so-"))
    port, ws_port = free_port(), free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        **BASE_ENV,
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "WS_PORT": str(ws_port),
        "DATABASE_URL": database_url,
        **env,
    }
    log_path = data_dir / "server.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [str(WIRECHAT), "serve"],
            cwd=data_dir,  # no stray .env from the repository
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Proc(popen, port, ws_port, log_path)


def _wait_healthy(proc: Proc, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            return False
        try:
            if httpx.get(f"{proc.http_url}/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def stop(proc: Proc, within: float = 8.0) -> None:
    if proc.popen.poll() is not None:
        return
    proc.popen.send_signal(signal.SIGTERM)
    try:
        proc.popen.wait(within)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        proc.popen.wait()


@pytest.fixture
def cluster(database: str, redis_admin: Any) -> Iterator[Callable[..., list[Proc]]]:
    """``cluster(n, **env)``: ``n`` processes on the module's database and Redis."""
    started: list[Proc] = []

    def start(n: int, **env: str) -> list[Proc]:
        procs: list[Proc] = []
        for _attempt in range(3):
            batch = [_spawn(database, env) for _ in range(n - len(procs))]
            started.extend(batch)
            for proc in batch:
                if _wait_healthy(proc):
                    procs.append(proc)
                elif proc.popen.poll() is None:
                    stop(proc)
                    raise AssertionError(f"no /health within 30 s:\n{proc.log()}")
                elif "set PORT" not in proc.log() and "set WS_PORT" not in proc.log():
                    raise AssertionError(f"exited at start:\n{proc.log()}")
            if len(procs) == n:
                return procs
        raise AssertionError("could not find free ports")

    yield start
    for proc in started:
        if proc.popen.poll() is not None and not proc.killed:
            print(f"\n{proc.name} exited by itself ({proc.popen.returncode}):\n{proc.log()}")
        stop(proc)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=20, limits=limits) as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient) -> Api:
    return Api(http)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The conformance suite's node_modules (pinned @trpc/client), installed if missing."""
    return support_node.node_modules()
