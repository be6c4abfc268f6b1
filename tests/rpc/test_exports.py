"""The public API of wirechat.rpc is small, explicit and guarded."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import wirechat.rpc

EXPECTED = sorted(
    [
        "Call",
        "Connection",
        "CreateContext",
        "Emit",
        "Engine",
        "ErrorCode",
        "ErrorFormatter",
        "HTTPHandler",
        "Limits",
        "Middleware",
        "Next",
        "Observer",
        "Procedure",
        "ProcedureBuilder",
        "PushSource",
        "RPC",
        "RPCError",
        "RequestInfo",
        "Router",
        "SSEOptions",
        "StreamClosed",
        "SuperJSON",
        "TRPCASGIApp",
        "Tracked",
        "Transformer",
        "UNDEFINED",
        "WSServer",
        "WireType",
        "init_rpc",
        "iterate_push",
        "tracked",
    ]
)

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(wirechat.rpc.__path__, prefix="wirechat.rpc.")
)


def test_public_names_match_the_expected_list() -> None:
    assert sorted(wirechat.rpc.__all__) == EXPECTED


def test_public_names_are_listed_once() -> None:
    assert len(set(wirechat.rpc.__all__)) == len(wirechat.rpc.__all__)


@pytest.mark.parametrize("name", EXPECTED)
def test_every_public_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from wirechat.rpc import {name}", namespace)
    assert namespace[name] is getattr(wirechat.rpc, name)


def test_star_import_gives_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from wirechat.rpc import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == EXPECTED


def test_the_engine_modules_are_all_found() -> None:
    assert "wirechat.rpc.http" in MODULES
    assert "wirechat.rpc.ws.session" in MODULES


@pytest.mark.parametrize("module_name", MODULES)
def test_every_module_declares_all_with_names_it_defines(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ lists missing {name}"
