"""End to end with the official client: ``node --test`` over the chat's three transports
(``tests/conformance/node/chat/e2e_*.test.mjs``) against the live process."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import NODE_DIR, Server

pytestmark = pytest.mark.node


@pytest.mark.parametrize(
    "transport",
    [
        pytest.param("http", id="httpBatchLink"),
        pytest.param("sse", id="httpSubscriptionLink"),
        pytest.param("ws", id="wsLink"),
    ],
)
def test_official_client_uses_the_chat_end_to_end(
    server: Server, node_modules: Path, transport: str
) -> None:
    node = shutil.which("node")
    assert node, "node is not installed"
    script = NODE_DIR / "chat" / f"e2e_{transport}.test.mjs"
    result = subprocess.run(
        [
            node,
            "--test",
            "--test-force-exit",
            "--test-timeout=30000",
            "--test-reporter=spec",
            str(script),
        ],
        cwd=NODE_DIR,
        env={**os.environ, "TRPC_URL": server.trpc_url, "WS_URL": server.ws_url},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


EXPIRES_S, GRACE_S = 4, 1


def test_official_client_refreshes_in_band_and_comes_back_after_expiry(
    start_server: Callable[..., Server], node_modules: Path
) -> None:
    """``chat/sessions.test.mjs`` against a process whose tokens last seconds."""
    srv = start_server(
        JWT_EXPIRES_IN=f"{EXPIRES_S}s",
        TOKEN_GRACE_SECONDS=str(GRACE_S),
        RATE_LIMIT_MESSAGES="1000000",
    )
    node = shutil.which("node")
    assert node, "node is not installed"
    result = subprocess.run(
        [
            node,
            "--test",
            "--test-force-exit",
            "--test-timeout=60000",
            "--test-reporter=spec",
            str(NODE_DIR / "chat" / "sessions.test.mjs"),
        ],
        cwd=NODE_DIR,
        env={
            **os.environ,
            "TRPC_URL": srv.trpc_url,
            "WS_URL": srv.ws_url,
            "EXPIRES_S": str(EXPIRES_S),
            "GRACE_S": str(GRACE_S),
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
