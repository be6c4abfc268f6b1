"""The chat page in a real browser: Debian's Chromium driven by playwright, headless,
against a real ``wirechat serve`` process serving a fresh build of ``web/``.

- ``chromium``: the browser binary found on PATH; missing, the suite is skipped (or
  fails when ``CI`` is set). Playwright's own browser downloads are never used.
- ``page_build``: ``web/`` type-checked and built once per session into a temp folder.
- ``server``: a session-long process serving that build (messages rate limit raised
  so seeding is not throttled); ``start_server`` starts others with other settings.
- ``browser``: Chromium, launched once per test module;
- ``open_page``: a new browser context and page per call, each with its own storage,
  console errors collected and asserted empty at the end of the test.
- ``shots``: numbered screenshots under ``artifacts/browser/<test>/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from support.net import free_port
from support.node import unavailable

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
WIRECHAT = Path(sys.executable).parent / "wirechat"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "artifacts" / "browser"))
PASSWORD = "correct horse battery"

# The machine has no network beyond package registries: nothing in Chromium may try.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BASE_ENV = {
    "HOST": "127.0.0.1",
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_COST": "8192",
    "ARGON2_PARALLELISM": "1",
    "JWT_SECRET": "browser-test-secret-browser-test-0123",
    "LOG_LEVEL": "warning",
    "DEV_MODE": "false",
    # Every test signs people up from 127.0.0.1; the per-address defaults are for the
    # open internet. The per-user limits (typing, rooms, edits) stay as deployed.
    "RATE_LIMIT_REGISTER": "1000/1h",
    "RATE_LIMIT_LOGIN": "1000/1m",
    "RATE_LIMIT_REFRESH": "1000/1m",
}

QUERIES = {
    "auth.me",
    "users.get",
    "rooms.list",
    "rooms.listPublic",
    "rooms.members",
    "messages.list",
}


@pytest.fixture(scope="session")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    unavailable("no chromium on PATH (Debian: apt-get install chromium)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def page_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``npm run build`` (tsc, then vite) into a session temp folder."""
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm not found on PATH")
    assert npm is not None
    if not (WEB / "node_modules" / ".bin" / "vite").exists():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=WEB,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    out = tmp_path_factory.mktemp("web-dist")
    result = subprocess.run(
        [npm, "run", "--silent", "build", "--", "--outDir", str(out), "--emptyOutDir"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"web build failed:\n{result.stdout}\n{result.stderr}"
    assert (out / "index.html").is_file()
    return out


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    ws_port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return (self.data_dir / "server.log").read_text(errors="replace")[-4000:]

    def call(self, path: str, payload: Any = None, token: str | None = None) -> Any:
        """One tRPC call over HTTP (mutations POST, queries GET), returning ``data``."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        url = f"{self.url}/trpc/{path}"
        if path in QUERIES:
            params = {"input": json.dumps(payload)} if payload is not None else {}
            response = httpx.get(url, params=params, headers=headers, timeout=10)
        else:
            body = b"" if payload is None else json.dumps(payload).encode()
            headers["content-type"] = "application/json"
            response = httpx.post(url, content=body, headers=headers, timeout=10)
        answer = response.json()
        assert "result" in answer, f"{path} failed: {answer}"
        return answer["result"]["data"]

    def send_many(self, token: str, room_id: int, texts: list[str]) -> None:
        """Store ``texts`` in order, 50 to an HTTP batch."""
        for start in range(0, len(texts), 50):
            chunk = texts[start : start + 50]
            paths = ",".join(["messages.send"] * len(chunk))
            body = {str(i): {"roomId": room_id, "text": text} for i, text in enumerate(chunk)}
            response = httpx.post(
                f"{self.url}/trpc/{paths}?batch=1",
                json=body,
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            )
            results = response.json()
            assert all("result" in r for r in results), results

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _start(web_dir: Path, env: dict[str, str]) -> Server:
    data_dir = Path(tempfile.mkdtemp(prefix="wirechat-browser-"))
    port, ws_port = free_port(), free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        **BASE_ENV,
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "WS_PORT": str(ws_port),
        "WEB_DIR": str(web_dir),
        **env,
    }
    with (data_dir / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(WIRECHAT), "serve"],
            cwd=data_dir,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, port, ws_port, data_dir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited ({proc.returncode}):\n{server.log()}"
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"server did not answer /health within 30 s:\n{server.log()}")


@pytest.fixture(scope="session")
def server(page_build: Path) -> Iterator[Server]:
    server = _start(page_build, {"RATE_LIMIT_MESSAGES": "10000"})
    yield server
    server.stop()


@pytest.fixture
def start_server(page_build: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(**env: str) -> Server:
        started.append(_start(page_build, env))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    """Module-scoped: playwright's sync API runs an event loop in this thread while it
    is open, which the async tests of later modules could not start beside."""
    # Generous: the machine is shared and loaded; nothing here measures speed.
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@dataclass
class Console:
    """Console errors and uncaught exceptions of one page; ``allow`` lists expected ones."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@dataclass
class OpenPage:
    page: Page
    context: BrowserContext
    console: Console


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """This test's folder under ``artifacts/browser/``, emptied first."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def shots(artifacts: Path) -> Callable[[Page, str], Path]:
    """``shots(page, "step")`` saves ``NN-step.png`` for this test."""
    folder = artifacts
    counter = iter(range(1, 1000))

    def shot(page: Page, step: str) -> Path:
        path = folder / f"{next(counter):02d}-{step}.png"
        page.screenshot(path=path)
        return path

    return shot


@pytest.fixture
def open_page(browser: Browser, artifacts: Path) -> Iterator[Callable[[str], OpenPage]]:
    """Each page's last state is saved as ``final-N.png``, the first thing to look at
    when a test fails."""
    opened: list[OpenPage] = []

    def open_(url: str) -> OpenPage:
        context = browser.new_context(viewport={"width": 1200, "height": 760})
        context.set_default_timeout(15_000)
        page = context.new_page()
        console = Console()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                console.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: console.errors.append(f"uncaught: {error}"))
        page.goto(url)
        opened.append(OpenPage(page, context, console))
        return opened[-1]

    yield open_
    problems = [(i, e) for i, p in enumerate(opened) for e in p.console.unexpected()]
    for number, item in enumerate(opened, 1):
        with contextlib.suppress(Exception):
            item.page.screenshot(path=artifacts / f"final-{number}.png")
        item.context.close()
    assert not problems, f"console errors on the page: {problems}"
