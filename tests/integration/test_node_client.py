"""End to end with the official client: ``node --test`` over the chat's three transports
(``tests/conformance/node/chat/e2e_*.test.mjs``) against the live process."""

from __future__ import annotations

import os
import shutil
import subprocess
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
