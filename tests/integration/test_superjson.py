"""TRANSFORMER=superjson: the official client with ``transformer: superjson`` on every link
(``tests/conformance/node/chat/superjson.test.mjs``) against a live process."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import NODE_DIR, Server

pytestmark = pytest.mark.node


def test_official_client_with_superjson_uses_every_procedure(
    start_server: Callable[..., Server], node_modules: Path
) -> None:
    node = shutil.which("node")
    assert node, "node is not installed"
    server = start_server(TRANSFORMER="superjson")
    result = subprocess.run(
        [
            node,
            "--test",
            "--test-force-exit",
            "--test-timeout=60000",
            "--test-reporter=spec",
            str(NODE_DIR / "chat" / "superjson.test.mjs"),
        ],
        cwd=NODE_DIR,
        env={**os.environ, "TRPC_URL": server.trpc_url, "WS_URL": server.ws_url},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "Traceback" not in server.log()
