"""wirechat.rpc imports nothing else from wirechat: imports point one way, engine first."""

from __future__ import annotations

import json
import subprocess
import sys

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
