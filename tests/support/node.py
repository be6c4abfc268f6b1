"""The pinned official client's node_modules, shared by every suite that runs Node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["NODE_DIR", "node_modules", "unavailable"]

NODE_DIR = Path(__file__).resolve().parents[1] / "conformance" / "node"


def unavailable(reason: str) -> None:
    """Skip on a developer machine without the tool; fail in CI, where it must exist."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def node_modules(directory: Path = NODE_DIR) -> Path:
    """``directory/node_modules`` (by default ``tests/conformance/node``'s), installed with
    ``npm ci`` from its lock file if missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node/npm not found on PATH")
    modules = directory / "node_modules"
    # Every dependency of package.json, so one added later is installed too.
    package = json.loads((directory / "package.json").read_text())
    needed = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    if not modules.is_dir() or not all((modules / name).is_dir() for name in needed):
        assert npm is not None
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            unavailable(f"npm ci failed:\n{result.stdout}\n{result.stderr}")
    return modules
