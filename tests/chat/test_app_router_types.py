"""The committed ``clients/ts/app-router.d.ts`` is what ``wirechat codegen`` writes now.

A front end imports that file for its ``AppRouter`` type; a procedure changed
without regenerating it would let the front end compile against a stale API.
"""

from __future__ import annotations

from pathlib import Path

from wirechat.chat.routers import app_router
from wirechat.cli import DEFAULT_DECLARATION, DEFAULT_ROUTER
from wirechat.rpc.codegen import declare_router

ROOT = Path(__file__).resolve().parents[2]


def test_committed_declaration_is_up_to_date() -> None:
    committed = (ROOT / DEFAULT_DECLARATION).read_text(encoding="utf-8")
    generated = declare_router(app_router, source=DEFAULT_ROUTER).text
    assert committed == generated, "clients/ts/app-router.d.ts is stale: run `wirechat codegen`"


def test_every_chat_procedure_is_typed_precisely() -> None:
    declaration = declare_router(app_router)
    assert declaration.warnings == ()
    # The only unknown is what a subscription's iterator accepts from next().
    assert "unknown" not in declaration.text.replace(", void, unknown>", "")
    assert "any" not in declaration.text


def test_tracked_message_events_reach_on_data_with_their_id() -> None:
    text = declare_router(app_router).text
    assert "output: AsyncIterable<{ id: string; data: MessageEvent }, void, unknown>;" in text


def test_superjson_flavour_types_times_as_dates_and_declares_the_transformer() -> None:
    text = declare_router(app_router, transformer="superjson").text
    assert "transformer: true;" in text
    assert "  createdAt: Date;" in text
    assert "  editedAt: Date | null;" in text
    assert ": string;" in text  # non-time strings stay strings
    assert "createdAt: string" not in text
