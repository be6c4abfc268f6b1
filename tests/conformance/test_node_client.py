"""The unmodified @trpc/client 11.25.2 against real wirechat processes.

Each ``node/*.test.mjs`` file (one per link) runs under ``node --test`` with the
server URLs in its environment; a failure shows Node's report. The first run on a
fresh clone installs the pinned packages with ``npm ci``. Without npm the tests
are skipped, unless ``CI`` is set (then they fail).
"""

from __future__ import annotations

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
TEST_FILES = sorted(p.name for p in NODE_DIR.glob("*.test.mjs"))
NODE_TIMEOUT = 90


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return support_node.node_modules()


@pytest.mark.parametrize("test_file", TEST_FILES)
def test_node_client(test_file: str, node_modules: Path, servers: dict[str, Server]) -> None:
    main = servers["main"]
    env = {
        **os.environ,
        "TRPC_URL": main.trpc,
        "WS_URL": main.ws,
        "ALT_URL": servers["alt"].trpc,
        "NOBATCH_URL": servers["nobatch"].trpc,
        "NODE_NO_WARNINGS": "1",
    }
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", test_file],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
    )
    if result.returncode != 0:
        pytest.fail(
            f"node --test {test_file} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}\n"
            f"--- server log (tail) ---\n{main.output()}",
            pytrace=False,
        )
