"""The unmodified @trpc/client against real wirechat processes, in two releases.

Each ``node/*.test.mjs`` file (one per link) runs under ``node --test`` with the
server URLs in its environment; a failure shows Node's report. Every file runs
twice: with the latest pinned client (``node/package.json``) and with 11.0.0, the
first 11.x release (``node-11.0/package.json``), which ``node/client-pin.mjs``
substitutes for every ``@trpc/*`` import. The first run on a fresh clone installs
the pinned packages with ``npm ci``. Without npm the tests are skipped, unless
``CI`` is set (then they fail).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support import node as support_node

if TYPE_CHECKING:
    from .conftest import Server

pytestmark = pytest.mark.node

NODE_DIR = support_node.NODE_DIR
NODE_11_0_DIR = NODE_DIR.parent / "node-11.0"
TEST_FILES = sorted(p.name for p in NODE_DIR.glob("*.test.mjs"))
NODE_TIMEOUT = 90


def pinned_client(directory: Path) -> str:
    """The exact @trpc/client version a package folder pins."""
    package = json.loads((directory / "package.json").read_text())
    return str(package["dependencies"]["@trpc/client"])


@pytest.fixture(scope="session", params=[NODE_DIR, NODE_11_0_DIR], ids=["latest", "11.0"])
def client_dir(request: pytest.FixtureRequest) -> Path:
    """The package folder whose @trpc/client the Node tests load; installed if missing."""
    directory: Path = request.param
    support_node.node_modules(directory)
    return directory


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """ws and eventsource, and the helpers' own imports, always come from ``node/``."""
    return support_node.node_modules()


@pytest.mark.parametrize("test_file", TEST_FILES)
def test_node_client(
    test_file: str, client_dir: Path, node_modules: Path, servers: dict[str, Server]
) -> None:
    main = servers["main"]
    env = {
        **os.environ,
        "TRPC_URL": main.trpc,
        "WS_URL": main.ws,
        "ALT_URL": servers["alt"].trpc,
        "NOBATCH_URL": servers["nobatch"].trpc,
        "TRPC_CLIENT_VERSION": pinned_client(client_dir),
        "NODE_NO_WARNINGS": "1",
    }
    pin = []
    if client_dir != NODE_DIR:
        env["TRPC_CLIENT_DIR"] = str(client_dir)
        pin = ["--import", "./client-pin.mjs"]
    result = subprocess.run(
        ["node", *pin, "--test", "--test-reporter=spec", test_file],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
    )
    if result.returncode != 0:
        pytest.fail(
            f"node --test {test_file} exited {result.returncode} "
            f"(@trpc/client {env['TRPC_CLIENT_VERSION']})\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}\n"
            f"--- server log (tail) ---\n{main.output()}",
            pytrace=False,
        )
