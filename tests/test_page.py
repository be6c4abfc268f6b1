"""The chat page at ``/``: index revalidated, hashed assets cached, WS port filled in."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from wirechat.page import ChatPage
from wirechat.web import build_http_app

INDEX = b"""<!doctype html><html><head>
<meta name="wirechat-ws-port" content="" />
<script type="module" src="/assets/index-abc123.js"></script>
</head><body><div id="root"></div></body></html>"""


async def trpc_app(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("trpc")(scope, receive, send)


def client_for(page: ChatPage) -> httpx.AsyncClient:
    app = build_http_app(
        trpc_app,
        cors_origins=["http://localhost:5173"],
        ready_checks={},
        registry=CollectorRegistry(),
        page_routes=page.routes(),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('hi')")
    return tmp_path


async def test_index_names_the_websocket_port_and_is_not_cached(built: Path) -> None:
    async with client_for(ChatPage(built, ws_port=lambda: 4101)) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert b'<meta name="wirechat-ws-port" content="4101" />' in response.content


async def test_index_keeps_the_page_default_without_a_websocket_server(built: Path) -> None:
    async with client_for(ChatPage(built, ws_port=lambda: None)) as client:
        response = await client.get("/")
    assert response.content == INDEX


async def test_hashed_assets_are_cached_for_a_year(built: Path) -> None:
    async with client_for(ChatPage(built, ws_port=lambda: 4101)) as client:
        response = await client.get("/assets/index-abc123.js")
        missing = await client.get("/assets/index-nope.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.text == "console.log('hi')"
    assert missing.status_code == 404
    assert "immutable" not in missing.headers.get("cache-control", "")


async def test_a_missing_build_says_why_and_the_api_still_answers(tmp_path: Path) -> None:
    page = ChatPage(tmp_path / "dist", ws_port=lambda: 4101)
    assert page.missing is not None and "make web" in page.missing
    async with client_for(page) as client:
        root = await client.get("/")
        health = await client.get("/health")
        trpc = await client.get("/trpc/anything")
    assert root.status_code == 404
    assert "not built" in root.text
    assert health.status_code == 200
    assert trpc.text == "trpc"
