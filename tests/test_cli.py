"""The ``wirechat`` command as a newcomer meets it: start-up failures, check-ws, dev."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.net import free_port

WIRECHAT = Path(sys.executable).parent / "wirechat"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {
        **base,
        "HOST": "127.0.0.1",
        "DATA_DIR": str(tmp_path / "data"),
        "JWT_SECRET": "cli-test-secret-cli-test-secret-0123",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "8192",
        "ARGON2_PARALLELISM": "1",
        **extra,
    }


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def wait_healthy(port: int, proc: subprocess.Popen[bytes], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited with {proc.returncode}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("no /health answer")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    port, ws_port = free_port(), free_port()
    env = env_for(tmp_path, PORT=str(port), WS_PORT=str(ws_port))
    proc = subprocess.Popen(
        [str(WIRECHAT), "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(port, proc)
        yield port, ws_port
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


@pytest.mark.parametrize("setting", ["PORT", "WS_PORT"])
def test_a_taken_port_exits_1_with_one_line_naming_the_setting(
    tmp_path: Path, setting: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = {"PORT": str(free_port()), "WS_PORT": str(free_port())}
        ports[setting] = str(taken.getsockname()[1])
        result = run([str(WIRECHAT), "serve"], env_for(tmp_path, **ports), tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"set {setting} to a free port" in lines[0]


def test_a_bad_setting_exits_1_naming_it(tmp_path: Path) -> None:
    result = run([str(WIRECHAT), "serve"], env_for(tmp_path, PORT="not-a-port"), tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "invalid setting PORT" in lines[0]


def test_an_unreachable_database_exits_1_naming_database_url(tmp_path: Path) -> None:
    env = env_for(
        tmp_path,
        PORT=str(free_port()),
        WS_PORT=str(free_port()),
        DATABASE_URL=f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing",
    )
    result = run([str(WIRECHAT), "serve"], env, tmp_path)
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr
    assert "secret" not in result.stderr  # no password in logs


def test_check_ws_reports_the_upgrade_and_the_pong(tmp_path: Path, server: tuple[int, int]) -> None:
    _, ws_port = server
    result = run(
        [str(WIRECHAT), "check-ws", f"ws://127.0.0.1:{ws_port}/"], env_for(tmp_path), tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "101 Switching Protocols" in result.stdout
    assert "PING -> PONG" in result.stdout


def test_check_ws_fails_when_nothing_listens(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    result = run([str(WIRECHAT), "check-ws", url], env_for(tmp_path), tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL")


def test_python_m_wirechat_is_the_same_command(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "wirechat", "--help"], env_for(tmp_path), tmp_path)
    assert result.returncode == 0
    for command in ("serve", "dev", "migrate", "check-ws"):
        assert command in result.stdout


def test_migrate_brings_a_new_database_up_to_date(tmp_path: Path) -> None:
    result = run([str(WIRECHAT), "migrate"], env_for(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "wirechat.db").exists()


def test_dev_serves_in_development_mode(tmp_path: Path) -> None:
    port = free_port()
    env = env_for(tmp_path, PORT=str(port), WS_PORT=str(free_port()))
    proc = subprocess.Popen(
        [str(WIRECHAT), "dev"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_healthy(port, proc)
        # Development mode shows stack traces to the client.
        body = httpx.get(f"http://127.0.0.1:{port}/trpc/auth.me?input=%7B", timeout=5).json()
        assert body["error"]["data"]["code"] == "UNAUTHORIZED"
        assert "stack" in body["error"]["data"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def test_serve_without_a_built_page_logs_one_line_and_serves_the_api(tmp_path: Path) -> None:
    port = free_port()
    env = env_for(
        tmp_path, PORT=str(port), WS_PORT=str(free_port()), WEB_DIR=str(tmp_path / "no-dist")
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(WIRECHAT), "serve"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_healthy(port, proc)
        root = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert root.status_code == 404
        assert "/trpc" in root.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    lines = [line for line in log_path.read_text().splitlines() if "chat page" in line.lower()]
    assert len(lines) == 1, lines
    assert "no-dist" in lines[0] and "make web" in lines[0]
