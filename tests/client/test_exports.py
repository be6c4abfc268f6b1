"""The public API of wirechat.client is small, explicit, guarded, and cheap to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import wirechat.client

EXPECTED = sorted(
    [
        "Client",
        "Event",
        "KeepAlive",
        "Subscription",
        "TRPCClientError",
        "UNSET",
        "default_retry_delay",
    ]
)


def test_public_names_match_the_expected_list() -> None:
    assert sorted(wirechat.client.__all__) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_every_public_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from wirechat.client import {name}", namespace)
    assert namespace[name] is getattr(wirechat.client, name)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        wirechat.client.Nope  # noqa: B018


# What the server needs and a client must not load (its error table is its own copy
# for this reason: see wirechat.client.errors).
SERVER_LIBRARIES = {"pydantic", "starlette", "sqlalchemy"}


def _loaded_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_importing_the_client_loads_neither_the_server_nor_httpx() -> None:
    loaded = _loaded_after("import wirechat.client")
    server_side = {m for m in loaded if m.startswith(("wirechat.rpc", "wirechat.chat"))}
    assert not server_side
    assert "wirechat.server" not in loaded
    assert "httpx" not in loaded
    assert "picows" not in loaded


def test_a_websocket_only_client_never_imports_httpx() -> None:
    loaded = _loaded_after(
        "from wirechat.client import Client\nClient(ws_url='ws://127.0.0.1:1').ws"
    )
    assert "picows" in loaded
    assert "httpx" not in loaded
    assert not {m for m in loaded if m.startswith(("wirechat.rpc", "wirechat.chat"))}
    assert not SERVER_LIBRARIES & loaded


def test_an_http_client_that_met_an_error_loads_no_server_library() -> None:
    loaded = _loaded_after(
        "from wirechat.client import Client, TRPCClientError\n"
        "Client('http://127.0.0.1:1/trpc').http\n"
        "TRPCClientError.from_shape({'code': -32001, 'message': 'no'})"
    )
    assert "httpx" in loaded
    assert not SERVER_LIBRARIES & loaded
    assert not {m for m in loaded if m.startswith(("wirechat.rpc", "wirechat.chat"))}
