"""WSSession driven with list-collecting send/close fakes: tRPC over WebSocket,
COVERAGE.md items 71-100."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from wirechat.rpc.codec import UNDEFINED
from wirechat.rpc.context import RequestInfo
from wirechat.rpc.errors import ErrorCode, RPCError
from wirechat.rpc.init import init_rpc
from wirechat.rpc.limits import Limits
from wirechat.rpc.middleware import Call, Next
from wirechat.rpc.push import Emit, PushSource, StreamClosed
from wirechat.rpc.router import Router
from wirechat.rpc.tracked import tracked
from wirechat.rpc.ws.session import CloseCode, WSSession

from .support import Ctx, make_engine


class Peer:
    """The client end: every frame the session sent, and how it closed the socket."""

    def __init__(self) -> None:
        self.sent: list[bytes | str] = []
        self.closed: list[tuple[int, str]] = []

    def send(self, data: bytes | str) -> None:
        self.sent.append(data)

    def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))

    @property
    def frames(self) -> list[Any]:
        """JSON frames decoded; the text control frames PING/PONG kept as strings."""
        return [f if f in ("PING", "PONG") else orjson.loads(f) for f in self.sent]

    def for_id(self, rid: Any) -> list[Any]:
        return [f for f in self.frames if isinstance(f, dict) and f.get("id") == rid]


async def until(predicate: Callable[[], bool], within: float = 1.0) -> None:
    """Wait for state that the session's tasks change; they offer no event to wait on."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def settle() -> None:
    """Let every ready task run (no timers involved)."""
    for _ in range(20):
        await asyncio.sleep(0)


def req(rid: Any, method: str, path: str, value: Any = UNDEFINED, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"path": path}
    if value is not UNDEFINED:
        params["input"] = value
    params.update(extra.pop("params", {}))
    return {"id": rid, "method": method, "params": params, **extra}


def stop(rid: Any) -> dict[str, Any]:
    return {"id": rid, "method": "subscription.stop"}


def text(value: Any) -> str:
    return orjson.dumps(value).decode()


def error_code(frame: Any) -> str:
    code: str = frame["error"]["data"]["code"]
    return code


class Source(PushSource):
    """A push source the test drives: ``emit`` is kept, ``end`` finishes or fails ``run``."""

    def __init__(self) -> None:
        self.emit: Emit | None = None
        self.done: asyncio.Future[BaseException | None] = asyncio.Future()
        self.cancelled = False

    async def run(self, emit: Emit) -> None:
        self.emit = emit
        try:
            error = await self.done
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if error is not None:
            raise error


class App:
    """Procedures for the WebSocket tests; ``log`` records what they saw."""

    def __init__(self) -> None:
        self.log: dict[str, Any] = {}
        self.release = asyncio.Event()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.sources: list[Source] = []
        t = init_rpc(Ctx)

        async def observe(call: Call[Ctx], next: Next[Ctx]) -> Any:
            self.log.setdefault("batch_index", []).append(call.batch_index)
            return await next(call.ctx)

        p = t.procedure.use(observe)
        self.router = Router(
            {
                "hello": p.input(Any).query(self.hello),
                "undef": p.query(self.undef),
                "mut": p.input(Any).mutation(self.mut),
                "slow": p.query(self.slow),
                "gen": p.query(self.gen),
                "fail": p.query(self.fail),
                "whoami": p.query(self.whoami),
                "unserializable": p.query(self.unserializable),
                "numbers": p.input(Any).subscription(self.numbers),
                "feed": p.input(Any).subscription(self.feed),
                "setup": p.subscription(self.setup),
                "broken": p.subscription(self.broken),
                "denied": p.use(self.deny).subscription(self.numbers),
                "notIterable": p.subscription(self.not_iterable),
                "strict": p.input(int).subscription(self.numbers),
                "spin": p.subscription(self.spin),
                "push": p.subscription(self.push),
                "pushQuery": p.query(self.push),
            }
        )

    async def hello(self, ctx: Ctx, value: Any) -> Any:
        return {"hello": value}

    async def undef(self, ctx: Ctx, value: Any) -> Any:
        return UNDEFINED

    async def mut(self, ctx: Ctx, value: Any) -> Any:
        return value

    async def slow(self, ctx: Ctx, value: Any) -> str:
        await self.release.wait()
        return "slow"

    async def gen(self, ctx: Ctx, value: Any) -> AsyncIterator[int]:
        yield 1

    async def fail(self, ctx: Ctx, value: Any) -> None:
        raise RPCError(ErrorCode.UNAUTHORIZED, "nope")

    async def whoami(self, ctx: Ctx, value: Any) -> Any:
        return {"user": ctx.user, "params": ctx.info.connection_params}

    async def unserializable(self, ctx: Ctx, value: Any) -> Any:
        return object()

    async def numbers(self, ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        self.log["input"] = value
        yield {"n": 1}
        yield tracked("2", {"n": 2})
        yield UNDEFINED

    async def feed(self, ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        """Yields what the test puts on ``queue``; records when its ``finally`` ran."""
        self.log["feed_input"] = value
        try:
            while True:
                item = await self.queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.log["feed_closed"] = self.log.get("feed_closed", 0) + 1

    async def setup(self, ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        """A coroutine resolver whose setup waits for ``release``."""
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.log["setup_cancelled"] = True
            raise
        return self.feed(ctx, value)

    async def broken(self, ctx: Ctx, value: Any) -> AsyncIterator[Any]:
        yield 1
        raise RPCError(ErrorCode.FORBIDDEN, "kicked")

    async def deny(self, call: Call[Ctx], next: Next[Ctx]) -> Any:
        raise RPCError(ErrorCode.FORBIDDEN, "not a member")

    async def not_iterable(self, ctx: Ctx, value: Any) -> Any:
        return 5

    async def push(self, ctx: Ctx, value: Any) -> PushSource:
        source = Source()
        self.sources.append(source)
        return source

    async def spin(self, ctx: Ctx, value: Any) -> AsyncIterator[int]:
        n = 0
        while True:
            await asyncio.sleep(0)
            n += 1
            yield n


@pytest.fixture
def app() -> App:
    return App()


CreateContext = Callable[[RequestInfo], Any]


def open_session(
    app: App,
    create_context: CreateContext | None = None,
    *,
    start: bool = True,
    **options: Any,
) -> tuple[WSSession, Peer]:
    peer = Peer()
    engine = make_engine(app.router, create_context)
    query = {"connectionParams": "1"} if options.get("expect_connection_params") else {}
    info = RequestInfo("ws", {"authorization": "ann"}, query, "127.0.0.1:5000")
    session = WSSession(engine, info, peer.send, peer.close, **options)
    if start:
        session.start()
    return session, peer


@pytest.fixture
async def connected(app: App) -> AsyncIterator[tuple[WSSession, Peer]]:
    session, peer = open_session(app)
    await settle()
    yield session, peer
    await session.aclose()


# -- queries and mutations (71-80) ----------------------------------------------------------


async def test_c71_query_gets_a_data_result(connected: tuple[WSSession, Peer]) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "query", "hello", "x")))
    await until(lambda: len(peer.sent) == 1)
    assert peer.sent == [b'{"id":1,"result":{"type":"data","data":{"hello":"x"}}}']


async def test_c72_string_id_and_jsonrpc_are_echoed(connected: tuple[WSSession, Peer]) -> None:
    session, peer = connected
    session.receive_text(text(req("abc", "mutation", "mut", 5, jsonrpc="2.0")))
    session.receive_text(text(req(2, "mutation", "mut", 6)))
    await until(lambda: len(peer.sent) == 2)
    assert peer.sent == [
        b'{"id":"abc","jsonrpc":"2.0","result":{"type":"data","data":5}}',
        b'{"id":2,"result":{"type":"data","data":6}}',
    ]


async def test_c73_undefined_result_has_no_data_key(connected: tuple[WSSession, Peer]) -> None:
    session, peer = connected
    session.receive_text(text(req(6, "query", "undef")))
    await until(lambda: len(peer.sent) == 1)
    assert peer.sent == [b'{"id":6,"result":{"type":"data"}}']


async def test_c74_method_that_does_not_match_the_procedure_is_not_found(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "query", "mut")))
    session.receive_text(text(req(2, "query", "nope")))
    await until(lambda: len(peer.sent) == 2)
    first, second = peer.frames
    assert first["id"] == 1
    assert error_code(first) == "NOT_FOUND"
    assert first["error"]["message"] == 'No "query"-procedure on path "mut"'
    assert first["error"]["data"]["path"] == "mut"
    assert second["error"]["message"] == 'No "query"-procedure on path "nope"'
    assert second["error"]["data"]["path"] == "nope"


async def test_procedure_error_is_an_error_frame_with_the_path(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_text(text(req(3, "query", "fail", jsonrpc="2.0")))
    await until(lambda: len(peer.sent) == 1)
    assert peer.sent == [
        b'{"id":3,"jsonrpc":"2.0","error":{"message":"nope","code":-32001,'
        b'"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"fail"}}}'
    ]


async def test_answered_is_called_after_each_answer_is_sent_and_not_for_a_stopped_call(
    app: App,
) -> None:
    """The transport may write as soon as a call has answered (WSServer.call_answered)."""
    seen: list[int] = []
    session, peer = open_session(app, answered=lambda: seen.append(len(peer.sent)))
    await settle()
    session.receive_text(text(req(1, "query", "hello", "x")))
    session.receive_text(text(req(2, "query", "fail")))
    await until(lambda: len(seen) == 2)
    assert seen == [1, 2]  # each after its own answer
    session.receive_text(text(req(3, "query", "slow")))
    await settle()
    await session.aclose()  # the socket went away: the call is cancelled, not answered
    await settle()
    assert seen == [1, 2]


async def test_c75_array_frame_answers_in_completion_order(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text([req(1, "query", "slow"), req(2, "query", "hello", "x")]))
    await until(lambda: len(peer.sent) == 1)
    assert peer.for_id(2) == [{"id": 2, "result": {"type": "data", "data": {"hello": "x"}}}]
    app.release.set()
    await until(lambda: len(peer.sent) == 2)
    assert peer.frames[1] == {"id": 1, "result": {"type": "data", "data": "slow"}}


async def test_batch_index_is_the_position_in_the_array_frame(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text([req(1, "query", "hello"), req(2, "query", "hello")]))
    await until(lambda: len(peer.sent) == 2)
    assert sorted(app.log["batch_index"]) == [0, 1]


async def test_batch_index_of_a_single_request_is_zero(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "query", "hello")))
    await until(lambda: len(peer.sent) == 1)
    assert app.log["batch_index"] == [0]


async def test_c76_text_that_is_not_json_is_an_id_null_parse_error_and_the_socket_stays_open(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_text("not json")
    assert len(peer.frames) == 1
    frame = peer.frames[0]
    assert frame["id"] is None
    assert frame["error"]["code"] == -32700
    assert frame["error"]["data"] == {"code": "PARSE_ERROR", "httpStatus": 400}
    session.receive_text(text(req(1, "query", "hello", "x")))
    await until(lambda: len(peer.sent) == 2)
    assert peer.frames[1]["result"]["data"] == {"hello": "x"}
    assert peer.closed == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (req(None, "query", "hello"), "`id` is required"),
        (req(1, "bogus", "hello"), "Invalid procedure type"),
        (req(1, "query", "hello", jsonrpc="1.0"), "Must be JSONRPC 2.0"),
    ],
)
async def test_c77_invalid_requests_are_id_null_parse_errors(
    connected: tuple[WSSession, Peer], value: Any, message: str
) -> None:
    session, peer = connected
    session.receive_text(text(value))
    await settle()
    assert peer.frames == [
        {
            "id": None,
            "error": {
                "message": message,
                "code": -32700,
                "data": {"code": "PARSE_ERROR", "httpStatus": 400},
            },
        }
    ]


async def test_c78_one_malformed_member_gives_one_error_and_runs_nothing(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(
        text([req(1, "query", "hello"), {"id": 2, "method": "query"}, req(3, "query", "hello")])
    )
    await settle()
    assert len(peer.frames) == 1
    assert peer.frames[0]["id"] is None
    assert "batch_index" not in app.log


async def test_c79_binary_frame_is_an_id_null_parse_error(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_binary()
    assert peer.frames[0]["id"] is None
    assert error_code(peer.frames[0]) == "PARSE_ERROR"
    assert peer.closed == []


async def test_c80_each_ping_gets_exactly_one_pong_in_order_and_pong_gets_nothing(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_text("PING")
    session.receive_text("PONG")
    session.receive_text(b"PING")
    session.receive_text("not json")
    session.receive_text("PING")
    assert peer.sent[:2] == ["PONG", "PONG"]
    assert peer.sent[3] == "PONG"
    assert len(peer.sent) == 4


async def test_too_long_array_frame_gives_bad_request_per_member_id(app: App) -> None:
    """(≥11.2x) array longer than max_batch_size."""
    session, peer = open_session(app, limits=Limits(max_batch_size=2))
    await settle()
    session.receive_text(text([req(1, "query", "hello"), req("b", "query", "hello"), stop(3)]))
    await settle()
    assert [f["id"] for f in peer.frames] == [1, "b", 3]
    for frame in peer.frames:
        assert error_code(frame) == "BAD_REQUEST"
        assert frame["error"]["message"] == "Batch call exceeds maximum size"
    assert "batch_index" not in app.log
    await session.aclose()


async def test_c89_query_returning_a_generator_is_415(connected: tuple[WSSession, Peer]) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "query", "gen")))
    await until(lambda: len(peer.sent) == 1)
    frame = peer.frames[0]
    assert error_code(frame) == "UNSUPPORTED_MEDIA_TYPE"
    assert frame["error"]["message"] == (
        "Cannot return an async iterable or observable from a query procedure with WebSockets"
    )
    assert frame["error"]["data"]["path"] == "gen"


async def test_unserializable_query_result_is_an_internal_server_error_frame(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "query", "unserializable")))
    await until(lambda: len(peer.sent) == 1, within=0.2)
    assert error_code(peer.frames[0]) == "INTERNAL_SERVER_ERROR"


# -- subscriptions (81-89) --------------------------------------------------------------------


async def test_c81_c82_subscription_sends_started_data_tracked_and_stopped(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "numbers", {})))
    await until(lambda: len(peer.sent) == 5)
    assert peer.sent == [
        b'{"id":1,"result":{"type":"started"}}',
        b'{"id":1,"result":{"type":"data","data":{"n":1}}}',
        b'{"id":1,"result":{"type":"data","data":{"id":"2","data":{"n":2}},"id":"2"}}',
        b'{"id":1,"result":{"type":"data"}}',
        b'{"id":1,"result":{"type":"stopped"}}',
    ]
    assert session.subscription_count == 0


async def test_subscription_frames_echo_jsonrpc(connected: tuple[WSSession, Peer]) -> None:
    session, peer = connected
    session.receive_text(text(req("s", "subscription", "numbers", jsonrpc="2.0")))
    await until(lambda: len(peer.sent) == 5)
    assert all(f.startswith(b'{"id":"s","jsonrpc":"2.0",') for f in peer.sent)  # type: ignore[arg-type]


async def test_c83_last_event_id_is_merged_into_the_input(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, _peer = connected
    session.receive_text(
        text(req(1, "subscription", "numbers", {"room": 1}, params={"lastEventId": "2"}))
    )
    session.receive_text(text(req(2, "subscription", "feed", params={"lastEventId": "7"})))
    await until(lambda: "feed_input" in app.log and "input" in app.log)
    assert app.log["input"] == {"room": 1, "lastEventId": "2"}
    assert app.log["feed_input"] == {"lastEventId": "7"}


async def test_c84_stop_cancels_the_generator_and_sends_stopped(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "feed")))
    await app.queue.put("a")
    await until(lambda: len(peer.sent) == 2)
    session.receive_text(text(stop(1)))
    await until(lambda: app.log.get("feed_closed") == 1)
    assert peer.frames == [
        {"id": 1, "result": {"type": "started"}},
        {"id": 1, "result": {"type": "data", "data": "a"}},
        {"id": 1, "result": {"type": "stopped"}},
    ]
    assert session.subscription_count == 0


async def test_c84_c99_second_stop_and_stop_for_unknown_id_send_nothing(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "numbers")))
    await until(lambda: len(peer.sent) == 5)
    session.receive_text(text(stop(1)))
    session.receive_text(text(stop(1)))
    session.receive_text(text(stop(99)))
    await settle()
    assert len(peer.sent) == 5


async def test_c85_stop_then_ping_gets_pong_and_no_data_after_the_stop(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "spin")))
    await until(lambda: len(peer.sent) >= 5)
    session.receive_text(text(stop(1)))
    session.receive_text("PING")
    stopped_at = peer.frames.index({"id": 1, "result": {"type": "stopped"}})
    await settle()
    assert peer.sent[stopped_at + 1 :] == ["PONG"]


async def test_c86_iteration_error_is_an_error_frame_then_stopped(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "broken")))
    await until(lambda: len(peer.sent) == 4)
    started, data, error, stopped = peer.frames
    assert started == {"id": 1, "result": {"type": "started"}}
    assert data == {"id": 1, "result": {"type": "data", "data": 1}}
    assert error == {
        "id": 1,
        "error": {
            "message": "kicked",
            "code": -32003,
            "data": {"code": "FORBIDDEN", "httpStatus": 403, "path": "broken"},
        },
    }
    assert stopped == {"id": 1, "result": {"type": "stopped"}}


async def test_c86_unknown_iteration_error_is_internal_with_the_message_hidden(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "feed")))
    await app.queue.put(RuntimeError("secret"))
    await until(lambda: len(peer.sent) == 3)
    assert peer.frames[1]["error"]["message"] == "INTERNAL_SERVER_ERROR"
    assert peer.frames[2] == {"id": 1, "result": {"type": "stopped"}}


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("denied", "FORBIDDEN"),
        ("notIterable", "INTERNAL_SERVER_ERROR"),
        ("strict", "BAD_REQUEST"),
        ("nope", "NOT_FOUND"),
        ("hello", "NOT_FOUND"),
    ],
)
async def test_c87_error_before_iteration_is_a_single_error_frame(
    connected: tuple[WSSession, Peer], path: str, code: str
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", path, "x")))
    await until(lambda: len(peer.sent) >= 1)
    await settle()
    assert len(peer.frames) == 1
    assert error_code(peer.frames[0]) == code
    assert peer.frames[0]["error"]["data"]["path"] == path
    assert session.subscription_count == 0


async def test_c87_not_iterable_message_names_the_path(connected: tuple[WSSession, Peer]) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "notIterable")))
    await until(lambda: len(peer.sent) == 1)
    assert peer.frames[0]["error"]["message"] == (
        "Subscription notIterable did not return an observable or a AsyncGenerator"
    )


async def test_c88_duplicate_active_id_is_bad_request_and_the_first_keeps_streaming(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "feed")))
    await until(lambda: len(peer.sent) == 1)
    session.receive_text(text(req(1, "subscription", "feed")))
    await settle()
    assert peer.frames[1]["id"] == 1
    assert error_code(peer.frames[1]) == "BAD_REQUEST"
    assert peer.frames[1]["error"]["message"] == "Duplicate id 1"
    await app.queue.put("still here")
    await until(lambda: len(peer.sent) == 3)
    assert peer.frames[2] == {"id": 1, "result": {"type": "data", "data": "still here"}}


async def test_c88_id_is_reusable_after_stopped(connected: tuple[WSSession, Peer]) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "numbers")))
    await until(lambda: len(peer.sent) == 5)
    session.receive_text(text(req(1, "subscription", "numbers")))
    await until(lambda: len(peer.sent) == 10)
    assert peer.sent[5:] == peer.sent[:5]


async def test_queries_are_not_checked_for_duplicate_ids(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text([req(1, "query", "hello", "a"), req(1, "query", "hello", "b")]))
    await until(lambda: len(peer.sent) == 2)
    assert sorted(f["result"]["data"]["hello"] for f in peer.frames) == ["a", "b"]


async def test_stop_during_async_setup_sends_only_stopped_and_cancels_the_setup(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    """(≥11.2x) stop before started → just stopped."""
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "setup")))
    await settle()
    session.receive_text(text(stop(1)))
    await until(lambda: app.log.get("setup_cancelled") is True)
    app.release.set()
    await settle()
    assert peer.frames == [{"id": 1, "result": {"type": "stopped"}}]


async def test_stop_before_the_context_exists_sends_only_stopped(app: App) -> None:
    gate = asyncio.Event()

    async def slow_context(info: RequestInfo) -> Ctx:
        await gate.wait()
        return Ctx(info)

    session, peer = open_session(app, slow_context)
    session.receive_text(text(req(1, "subscription", "numbers")))
    session.receive_text(text(stop(1)))
    gate.set()
    await settle()
    assert peer.frames == [{"id": 1, "result": {"type": "stopped"}}]
    assert "input" not in app.log
    await session.aclose()


async def test_max_subscriptions_per_connection_is_enforced(app: App) -> None:
    session, peer = open_session(app, limits=Limits(max_subscriptions=2))
    await settle()
    for rid in (1, 2, 3):
        session.receive_text(text(req(rid, "subscription", "feed")))
    await settle()
    assert session.subscription_count == 2
    [refused] = peer.for_id(3)
    assert error_code(refused) == "BAD_REQUEST"
    assert refused["error"]["message"] == ("Too many subscriptions on one connection (limit 2)")
    session.receive_text(text(stop(1)))
    session.receive_text(text(req(3, "subscription", "feed")))
    await settle()
    assert peer.for_id(3)[-1] == {"id": 3, "result": {"type": "started"}}
    await session.aclose()


# -- context and connectionParams (90-93, 100) --------------------------------------------------


async def test_context_is_created_once_per_connection_with_the_ws_transport(app: App) -> None:
    created: list[RequestInfo] = []

    async def count(info: RequestInfo) -> Ctx:
        created.append(info)
        return Ctx(info, info.headers.get("authorization"))

    session, peer = open_session(app, count)
    await settle()
    session.receive_text(text([req(1, "query", "whoami"), req(2, "query", "whoami")]))
    session.receive_text(text(req(3, "query", "whoami")))
    await until(lambda: len(peer.sent) == 3)
    assert len(created) == 1
    assert created[0].transport == "ws"
    assert created[0].peer == "127.0.0.1:5000"
    assert created[0].connection_params is None
    assert peer.frames[0]["result"]["data"] == {"user": "ann", "params": None}
    await session.aclose()


async def test_c90_connection_params_reach_create_context(app: App) -> None:
    session, peer = open_session(app, expect_connection_params=True)
    await settle()
    session.receive_text(text({"method": "connectionParams", "data": {"token": "good"}}))
    session.receive_text(text(req(1, "query", "whoami")))
    await until(lambda: len(peer.sent) == 1)
    assert peer.frames[0]["result"]["data"] == {"user": "good", "params": {"token": "good"}}
    await session.aclose()


async def test_c90_null_connection_params_are_none(app: App) -> None:
    session, peer = open_session(app, expect_connection_params=True)
    session.receive_text('{"method":"connectionParams","data":null}')
    session.receive_text(text(req(1, "query", "whoami")))
    await until(lambda: len(peer.sent) == 1)
    assert peer.frames[0]["result"]["data"] == {"user": "ann", "params": None}
    await session.aclose()


async def test_context_waits_for_the_connection_params(app: App) -> None:
    created: list[RequestInfo] = []

    async def count(info: RequestInfo) -> Ctx:
        created.append(info)
        return Ctx(info)

    session, peer = open_session(app, count, expect_connection_params=True)
    await settle()
    assert created == []
    session.receive_text("PING")
    await settle()
    assert created == []
    assert peer.sent == ["PONG"]
    session.receive_text('{"method":"connectionParams","data":{"t":"1"}}')
    await settle()
    assert [info.connection_params for info in created] == [{"t": "1"}]
    await session.aclose()


async def test_c91_request_as_first_frame_is_an_id_null_parse_error_then_close(
    app: App,
) -> None:
    session, peer = open_session(app, expect_connection_params=True)
    session.receive_text(text(req(1, "query", "hello")))
    await settle()
    assert len(peer.frames) == 1
    assert peer.frames[0]["id"] is None
    assert error_code(peer.frames[0]) == "PARSE_ERROR"
    assert "path" not in peer.frames[0]["error"]["data"]
    assert len(peer.closed) == 1
    session.receive_text(text(req(2, "query", "hello")))
    await settle()
    assert len(peer.sent) == 1
    await session.aclose()


async def test_c91_bad_connection_params_shape_is_rejected(app: App) -> None:
    session, peer = open_session(app, expect_connection_params=True)
    session.receive_text('{"method":"connectionParams","data":{"a":1}}')
    assert peer.frames[0]["error"]["message"] == "Invalid connection params shape"
    assert peer.closed
    await session.aclose()


async def test_c92_create_context_failure_sends_id_null_error_then_per_request_errors_then_close(
    app: App,
) -> None:
    gate = asyncio.Event()

    async def deny(info: RequestInfo) -> Any:
        await gate.wait()
        raise RPCError(ErrorCode.UNAUTHORIZED, "bad token")

    session, peer = open_session(app, deny)
    session.receive_text(text(req(1, "query", "hello")))
    session.receive_text(text(req("s", "subscription", "numbers", jsonrpc="2.0")))
    assert peer.sent == []
    gate.set()
    await settle()
    assert peer.sent == [
        b'{"id":null,"error":{"message":"bad token","code":-32001,'
        b'"data":{"code":"UNAUTHORIZED","httpStatus":401}}}',
        b'{"id":1,"error":{"message":"bad token","code":-32001,'
        b'"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"hello"}}}',
        b'{"id":"s","jsonrpc":"2.0","error":{"message":"bad token","code":-32001,'
        b'"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"numbers"}}}',
    ]
    assert peer.closed == [(CloseCode.NORMAL, "")]
    assert "input" not in app.log
    session.receive_text(text(req(2, "query", "hello")))
    session.receive_text("PING")
    await settle()
    assert len(peer.sent) == 3
    await session.aclose()


async def test_create_context_crash_is_an_internal_error_with_the_message_hidden(
    app: App,
) -> None:
    async def crash(info: RequestInfo) -> Any:
        raise RuntimeError("db password")

    session, peer = open_session(app, crash)
    await settle()
    assert peer.frames[0]["id"] is None
    assert peer.frames[0]["error"]["message"] == "INTERNAL_SERVER_ERROR"
    assert peer.closed
    await session.aclose()


async def test_c93_requests_sent_before_a_slow_context_are_answered(app: App) -> None:
    gate = asyncio.Event()

    async def slow_context(info: RequestInfo) -> Ctx:
        await gate.wait()
        return Ctx(info)

    session, peer = open_session(app, slow_context)
    session.receive_text(text(req(1, "query", "hello", "x")))
    session.receive_text(text([req(2, "mutation", "mut", 2), req(3, "subscription", "numbers")]))
    session.receive_text("PING")
    await settle()
    assert peer.sent == ["PONG"]
    gate.set()
    await until(lambda: len(peer.for_id(3)) == 5)
    assert peer.for_id(1) == [{"id": 1, "result": {"type": "data", "data": {"hello": "x"}}}]
    assert peer.for_id(2) == [{"id": 2, "result": {"type": "data", "data": 2}}]
    await session.aclose()


async def test_c100_repeated_connections_with_a_failing_context_each_close(app: App) -> None:
    async def deny(info: RequestInfo) -> Any:
        raise RPCError(ErrorCode.UNAUTHORIZED)

    for _ in range(3):
        session, peer = open_session(app, deny)
        await settle()
        assert len(peer.sent) == 1
        assert peer.closed == [(CloseCode.NORMAL, "")]
        await session.aclose()


# -- keep-alive, reconnect, close (94-98) ---------------------------------------------------------


def test_receiving_a_frame_updates_the_last_inbound_time(app: App) -> None:
    session, _peer = open_session(app, start=False)
    session.last_inbound = 0.0
    session.receive_text("PONG")
    assert session.last_inbound > 0.0


def keepalive_session(app: App) -> tuple[WSSession, Peer]:
    session, peer = open_session(
        app, start=False, limits=Limits(ping_interval=10.0, pong_timeout=2.0)
    )
    session.last_inbound = 100.0
    return session, peer


def test_c96_server_pings_after_the_interval_of_silence(app: App) -> None:
    session, peer = keepalive_session(app)
    session.keepalive(109.9)
    assert peer.sent == []
    session.keepalive(110.0)
    assert peer.sent == ["PING"]
    session.keepalive(111.0)
    assert peer.sent == ["PING"]
    assert peer.closed == []


def test_c96_server_closes_when_nothing_arrives_within_the_pong_timeout(app: App) -> None:
    session, peer = keepalive_session(app)
    session.keepalive(110.0)
    session.keepalive(111.9)
    assert peer.closed == []
    session.keepalive(112.0)
    assert peer.closed == [(CloseCode.GOING_AWAY, "keep-alive timeout")]
    assert session.closed
    session.keepalive(130.0)
    assert peer.sent == ["PING"]


def test_c96_any_inbound_frame_after_the_ping_keeps_the_socket(app: App) -> None:
    session, peer = keepalive_session(app)
    session.keepalive(110.0)
    session.last_inbound = 111.0  # the client's PONG (or any frame) arrived
    session.keepalive(112.5)
    assert peer.closed == []
    session.keepalive(120.9)
    assert peer.sent == ["PING"]
    session.keepalive(121.0)
    assert peer.sent == ["PING", "PING"]


def test_c96_keepalive_is_off_without_a_ping_interval(app: App) -> None:
    session, peer = open_session(app, start=False, limits=Limits(ping_interval=None))
    session.last_inbound = 0.0
    session.keepalive(1e9)
    assert peer.sent == []
    assert peer.closed == []


async def test_c94_drain_sends_reconnect_lets_calls_finish_then_closes(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "query", "slow")))
    await settle()
    draining = asyncio.ensure_future(session.drain(grace=1.0))
    await settle()
    assert peer.sent == [b'{"id":null,"method":"reconnect"}']
    assert peer.closed == []
    app.release.set()
    await draining
    assert peer.frames[1] == {"id": 1, "result": {"type": "data", "data": "slow"}}
    assert peer.closed == [(CloseCode.SERVICE_RESTART, "server shutting down")]


async def test_c94_drain_gives_up_after_the_grace_period(
    connected: tuple[WSSession, Peer],
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "query", "slow")))
    await settle()
    await asyncio.wait_for(session.drain(grace=0.02), 1)
    assert peer.closed == [(CloseCode.SERVICE_RESTART, "server shutting down")]


async def test_c94_the_old_socket_keeps_serving_after_reconnect(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    """the client stops its subscriptions on the old socket and PINGs it as a barrier."""
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "feed")))
    await settle()
    session.send(b'{"id":null,"method":"reconnect"}')
    session.receive_text(text(stop(1)))
    session.receive_text("PING")
    await settle()
    assert peer.sent[-2:] == [b'{"id":1,"result":{"type":"stopped"}}', "PONG"]


async def test_c98_aclose_cancels_every_generator_and_sends_nothing_more(app: App) -> None:
    session, peer = open_session(app)
    await settle()
    session.receive_text(text(req(1, "subscription", "feed")))
    session.receive_text(text(req(2, "subscription", "feed")))
    session.receive_text(text(req(3, "query", "slow")))
    await app.queue.put("x")
    await until(lambda: len(peer.sent) == 3)
    sent = list(peer.sent)
    await asyncio.wait_for(session.aclose(), 1)
    assert app.log["feed_closed"] == 2
    assert session.subscription_count == 0
    app.release.set()
    await settle()
    assert peer.sent == sent
    session.receive_text(text(req(4, "query", "hello")))
    await settle()
    assert peer.sent == sent


async def test_c98_aclose_during_subscription_setup_cancels_it(app: App) -> None:
    session, peer = open_session(app)
    await settle()
    session.receive_text(text(req(1, "subscription", "setup")))
    await settle()
    await session.aclose()
    assert app.log["setup_cancelled"] is True
    assert peer.sent == []


async def test_aclose_before_the_context_exists_cancels_its_creation(app: App) -> None:
    cancelled: list[bool] = []

    async def never(info: RequestInfo) -> Any:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    session, peer = open_session(app, never)
    await settle()
    await session.aclose()
    assert cancelled == [True]
    assert peer.sent == []


# -- push subscriptions (wirechat.rpc.push) ------------------------------------------------------


async def test_push_source_emits_frames_synchronously_then_stopped(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "push")))
    await until(lambda: len(peer.sent) == 1)
    source = app.sources[0]
    assert source.emit is not None
    source.emit({"a": 1})
    source.emit(tracked("9", 2))
    source.emit(UNDEFINED)
    assert peer.sent[1:] == [
        b'{"id":1,"result":{"type":"data","data":{"a":1}}}',
        b'{"id":1,"result":{"type":"data","data":{"id":"9","data":2},"id":"9"}}',
        b'{"id":1,"result":{"type":"data"}}',
    ]
    source.done.set_result(None)
    await until(lambda: len(peer.sent) == 5)
    assert peer.frames[-1] == {"id": 1, "result": {"type": "stopped"}}


async def test_push_source_failure_is_an_error_frame_then_stopped(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "push")))
    await until(lambda: len(app.sources) == 1)
    app.sources[0].done.set_result(RPCError(ErrorCode.FORBIDDEN, "kicked"))
    await until(lambda: len(peer.sent) == 3)
    assert error_code(peer.frames[1]) == "FORBIDDEN"
    assert peer.frames[2] == {"id": 1, "result": {"type": "stopped"}}


async def test_push_source_is_cancelled_by_stop_and_later_emits_are_refused(
    app: App, connected: tuple[WSSession, Peer]
) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "subscription", "push")))
    await until(lambda: len(peer.sent) == 1)
    source = app.sources[0]
    session.receive_text(text(stop(1)))
    assert source.emit is not None
    with pytest.raises(StreamClosed):
        source.emit("late")
    await until(lambda: source.cancelled)
    session.receive_text(text(req(1, "subscription", "push")))
    await until(lambda: len(peer.sent) == 3)
    with pytest.raises(StreamClosed):
        source.emit("from the old subscription")
    await settle()
    assert peer.frames == [
        {"id": 1, "result": {"type": "started"}},
        {"id": 1, "result": {"type": "stopped"}},
        {"id": 1, "result": {"type": "started"}},
    ]


async def test_push_source_from_a_query_is_415(connected: tuple[WSSession, Peer]) -> None:
    session, peer = connected
    session.receive_text(text(req(1, "query", "pushQuery")))
    await until(lambda: len(peer.sent) == 1)
    assert error_code(peer.frames[0]) == "UNSUPPORTED_MEDIA_TYPE"


async def test_aclose_cancels_a_push_source(app: App) -> None:
    session, peer = open_session(app)
    await settle()
    session.receive_text(text(req(1, "subscription", "push")))
    await until(lambda: len(peer.sent) == 1)
    await session.aclose()
    assert app.sources[0].cancelled
    assert len(peer.sent) == 1
