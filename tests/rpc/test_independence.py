"""wirechat.rpc imports nothing else from wirechat: imports point one way, engine first."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import wirechat.rpc

FORBIDDEN = ("wirechat.chat", "wirechat.broker", "wirechat.db", "wirechat.config")

PROBE = """
import json, pkgutil, importlib, sys
import wirechat.rpc
for info in pkgutil.walk_packages(wirechat.rpc.__path__, prefix="wirechat.rpc."):
    importlib.import_module(info.name)
print(json.dumps(sorted(name for name in sys.modules if name.startswith("wirechat"))))
"""


def loaded_wirechat_modules() -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    modules: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return modules


def test_importing_all_of_rpc_loads_no_chat_broker_db_or_config_module() -> None:
    modules = loaded_wirechat_modules()
    assert "wirechat.rpc.ws.session" in modules
    offenders = [
        name for name in modules if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert offenders == []


def test_importing_rpc_loads_only_the_package_root_besides_rpc() -> None:
    modules = loaded_wirechat_modules()
    assert [name for name in modules if not name.startswith("wirechat.rpc")] == [
        "wirechat",
    ]


ENGINE_ONLY = """
import json, sys
from wirechat.rpc import Engine, RPCError, Router, init_rpc, tracked
print(json.dumps(sorted(sys.modules)))
"""

TRANSPORTS = (
    "picows",
    "wirechat.rpc.asgi",
    "wirechat.rpc.http",
    "wirechat.rpc.jsonl",
    "wirechat.rpc.sse",
    "wirechat.rpc.ws",
    "wirechat.rpc.ws.server",
    "wirechat.rpc.ws.session",
)


def modules_after(code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return modules


def test_importing_the_engine_loads_no_transport_and_not_picows() -> None:
    loaded = modules_after(ENGINE_ONLY)
    assert [name for name in TRANSPORTS if name in loaded] == []


def test_a_transport_name_is_loaded_on_first_use() -> None:
    loaded = modules_after(
        ENGINE_ONLY.replace("Engine, RPCError, Router, init_rpc, tracked", "WSServer")
    )
    assert "picows" in loaded
    assert "wirechat.rpc.ws.server" in loaded


def _rpc_imports(path: Path, package: str) -> set[str]:
    """The wirechat.rpc modules ``path`` imports, at any level (TYPE_CHECKING included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            if base.startswith("wirechat.rpc"):
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("wirechat.rpc"))
    return found


def test_no_import_cycle_between_rpc_modules() -> None:
    root = Path(wirechat.rpc.__file__).parent
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        name = "wirechat." + ".".join(rel.parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {m for m in _rpc_imports(path, package) if m in modules and m != name} - {
            "wirechat.rpc"
        }  # the package root re-exports lazily, never at import
    # Depth-first search for a back edge.
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
