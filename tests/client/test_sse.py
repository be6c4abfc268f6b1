"""The SSE parser on the byte sequences of tRPC's protocol, no I/O."""

from __future__ import annotations

from wirechat.client.sse import SSEEvent, SSEParser


def feed(text: str) -> list[SSEEvent]:
    parser = SSEParser()
    events = [parser.feed_line(line) for line in text.split("\n")]
    return [e for e in events if e is not None]


def test_reference_events_parse() -> None:
    text = (
        'event: connected\ndata: {"reconnectAfterInactivityMs":5000}\n\n\n'
        'data: {"plain":true}\n\n\n'
        'data: {"n":1}\nid: 1\n\n\n'
        "event: ping\ndata: \n\n\n"
        "event: return\ndata: \n\n\n"
    )
    assert feed(text) == [
        SSEEvent("connected", '{"reconnectAfterInactivityMs":5000}', None),
        SSEEvent("message", '{"plain":true}', None),
        SSEEvent("message", '{"n":1}', "1"),
        SSEEvent("ping", "", None),
        SSEEvent("return", "", None),
    ]


def test_blank_id_is_kept_apart_from_no_id() -> None:
    text = 'data: {"u":1}\nid: \n\n\nevent: restore-id\ndata: \nid: 3\n\n\n'
    assert feed(text) == [
        SSEEvent("message", '{"u":1}', ""),
        SSEEvent("restore-id", "", "3"),
    ]


def test_comments_and_multi_line_data() -> None:
    assert feed(": keep-alive\ndata: a\ndata:b\n\n") == [SSEEvent("message", "a\nb", None)]
