"""The plain HTTP endpoints (docs/api.md "Health, readiness and metrics") and the process
lifecycle (docs/api.md "Shutdown")."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .clients import Api, WSClient
from .conftest import Server

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format (None when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, label_text = head.partition("{")
        if sample != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


async def test_health_answers_ok_with_a_utc_millisecond_timestamp(
    http: httpx.AsyncClient, server: Server
) -> None:
    response = await http.get(f"{server.http_url}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert ISO_MS.match(body["timestamp"]), body


async def test_ready_reports_database_and_broker_ok(
    http: httpx.AsyncClient, server: Server
) -> None:
    response = await http.get(f"{server.http_url}/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


async def test_metrics_count_connections_subscriptions_calls_errors_events_and_latency(
    http: httpx.AsyncClient, server: Server, api: Api, ws: Callable[..., Any]
) -> None:
    alice = await api.register("metrics")
    room = await api.room(alice)
    with pytest.raises(Exception, match="NOT_FOUND"):
        await api.call("rooms.members", {"roomId": 2**40}, alice.token)
    client: WSClient = await ws(alice.token)
    sub = await client.subscribe("messages.onMessage", {"roomId": room["id"]})
    await sub.started()
    await api.send(alice, room["id"], "counted")
    await sub.data()

    response = await http.get(f"{server.http_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (metric(text, "wirechat_ws_connections") or 0) >= 1
    assert (metric(text, "wirechat_subscriptions", procedure="messages.onMessage") or 0) >= 1
    assert (metric(text, "wirechat_calls_total", procedure="messages.send") or 0) >= 1
    assert (
        metric(text, "wirechat_call_errors_total", procedure="rooms.members", code="NOT_FOUND") or 0
    ) >= 1
    assert (
        metric(text, "wirechat_events_delivered_total", procedure="messages.onMessage") or 0
    ) >= 1
    assert (
        metric(text, "wirechat_call_seconds_bucket", procedure="messages.send", le="+Inf") or 0
    ) >= 1
    assert metric(text, "wirechat_call_seconds_count", procedure="messages.send") is not None


async def test_sigterm_tells_websocket_clients_to_reconnect_and_exits_0(
    start_server: Callable[..., Server], http: httpx.AsyncClient
) -> None:
    srv = start_server()
    api = Api(srv.trpc_url, http)
    alice = await api.register("term")
    room = await api.room(alice)
    client = await WSClient.connect(srv.ws_url, alice.token)
    try:
        sub = await client.subscribe("messages.onMessage", {"roomId": room["id"]})
        await sub.started()
        started = time.monotonic()
        srv.proc.send_signal(15)
        note = await client.notifications.get()
        assert note == {"id": None, "method": "reconnect"}
        code = await _wait_exit(srv, 5.0)
        assert code == 0, srv.log()
        assert time.monotonic() - started < 5.0
    finally:
        await client.close()


async def _wait_exit(srv: Server, within: float) -> int | None:
    import asyncio

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            return srv.proc.returncode
        await asyncio.sleep(0.05)
    return None
