"""Many idle subscribed WebSockets, spread over worker processes and source addresses.

One process may hold only as many sockets as its open-files limit allows, and one
source address only as many connections to the server's port as the ephemeral
port range holds, so the connection-scaling and churn workloads open their
sockets in worker processes (this file, run as a script), each bound to its own
loopback source address (127.0.0.2, 127.0.0.3, ... or a new one per churn round).

A worker keeps per connection only picows' objects (with a small read buffer),
one small listener object and one byte of counters; it answers one JSON command
per stdin line with one JSON line on stdout:

    {"op": "open", "n": 1000, "source": "127.0.0.2"}  -> {"open": 1000, "failed": 0, "s": 2.1}
    {"op": "expect", "msgno": 3, "timeout": 60}       -> {"received": .., "dupes": .., ...}
    {"op": "close"}                                     -> {"closed": 1000}
    {"op": "exit"}

Every connection authenticates with connectionParams (tokens from a file, round
robin) and subscribes to ``messages.onMessage`` of one room. Deliveries are
recognised by the ``lg:<msgno>:<send ns>:`` marker in the message text; send and
receipt times are both ``time.perf_counter_ns`` (CLOCK_MONOTONIC, one clock for
every process on the machine).
"""

# ruff: noqa: ASYNC109, ASYNC110  (a load generator: explicit timeouts, polling)
from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import time
from typing import Any

import orjson
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

__all__ = ["Fleet"]

MARK = b"lg:"
CREATED = b'"created"'
STARTED = b'"started"'
perf_ns = time.perf_counter_ns
_SELF = os.path.abspath(__file__)


# ------------------------------------------------------------------------------------------
# worker side
# ------------------------------------------------------------------------------------------
class _State:
    def __init__(self) -> None:
        self.counts = bytearray()  # deliveries of the expected message, per connection
        self.msgno = -1
        self.received = 0
        self.dupes = 0
        self.lat: list[int] = []
        self.last_ns = 0
        self.done = asyncio.Event()
        self.alive = 0
        self.started = 0
        self.start_waiters: dict[int, asyncio.Future[None]] = {}


class _Conn(WSListener):  # type: ignore[misc]
    __slots__ = ("idx", "st", "token", "transport")

    def __init__(self, st: _State, idx: int, token: bytes) -> None:
        self.st = st
        self.idx = idx
        self.token = token
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.st.alive += 1
        transport.send(WSMsgType.TEXT, self.token)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type is not WSMsgType.TEXT:
            return
        data = frame.get_payload_as_bytes()
        st = self.st
        i = data.find(MARK)
        if i >= 0 and data.find(CREATED) >= 0:
            now = perf_ns()
            j = data.find(b":", i + 3)
            k = data.find(b":", j + 1)
            if int(data[i + 3 : j]) != st.msgno:
                return
            c = st.counts[self.idx]
            if c:
                st.dupes += 1
                return
            st.counts[self.idx] = 1
            st.received += 1
            st.lat.append(now - int(data[j + 1 : k]))
            st.last_ns = now
            if st.received >= st.alive:
                st.done.set()
        elif data == b"PING":
            transport.send(WSMsgType.TEXT, b"PONG")
        elif data.find(STARTED) >= 0:
            fut = st.start_waiters.pop(self.idx, None)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif data.find(b'"error"') >= 0:
            fut = st.start_waiters.pop(self.idx, None)
            if fut is not None and not fut.done():
                fut.set_exception(RuntimeError(data[:200].decode(errors="replace")))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.st.alive -= 1
        fut = self.st.start_waiters.pop(self.idx, None)
        if fut is not None and not fut.done():
            fut.set_exception(ConnectionError("closed"))


async def _worker(url: str, room: int, tokens: list[str], concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    st = _State()
    conns: list[_Conn] = []
    params = [orjson.dumps({"method": "connectionParams", "data": {"token": t}}) for t in tokens]
    sub = orjson.dumps(
        {
            "id": 1,
            "method": "subscription",
            "params": {"path": "messages.onMessage", "input": {"roomId": room}},
        }
    )

    def reply(obj: Any) -> None:
        sys.stdout.write(orjson.dumps(obj).decode() + "\n")
        sys.stdout.flush()

    next_idx = [0]

    async def open_one(source: str) -> bool:
        idx = next_idx[0]
        next_idx[0] += 1
        token = params[idx % len(params)]
        fut: asyncio.Future[None] = loop.create_future()
        st.start_waiters[idx] = fut
        try:
            _t, conn = await ws_connect(
                lambda: _Conn(st, idx, token),
                url + "?connectionParams=1",
                websocket_handshake_timeout=60,
                read_buffer_init_size=2048,
                use_aiofastnet=False,
                local_addr=(source, 0),
            )
        except Exception:
            st.start_waiters.pop(idx, None)
            return False
        conns.append(conn)  # type: ignore[arg-type]
        assert conn.transport is not None  # type: ignore[attr-defined]
        conn.transport.send(WSMsgType.TEXT, sub)  # type: ignore[attr-defined]
        try:
            await asyncio.wait_for(fut, 120)
        except Exception:
            return False
        return True

    for _ in range(1_000_000):
        line = await reader.readline()
        if not line:
            return
        cmd = orjson.loads(line)
        op = cmd["op"]
        if op == "open":
            t0 = time.monotonic()
            sem = asyncio.Semaphore(concurrency)
            source = cmd["source"]

            async def one(src: str = source, sem: asyncio.Semaphore = sem) -> bool:
                async with sem:
                    return await open_one(src)

            results = await asyncio.gather(*(one() for _ in range(cmd["n"])))
            reply(
                {
                    "open": st.alive,
                    "failed": results.count(False),
                    "s": time.monotonic() - t0,
                }
            )
        elif op == "arm":
            st.msgno = cmd["msgno"]
            st.counts = bytearray(next_idx[0] + 1)
            st.received = st.dupes = st.last_ns = 0
            st.lat = []
            st.done.clear()
            reply({"armed": st.alive})
        elif op == "expect":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(st.done.wait(), cmd["timeout"])
            await asyncio.sleep(cmd.get("linger", 0.5))  # a duplicate would arrive by now
            reply(
                {
                    "received": st.received,
                    "dupes": st.dupes,
                    "alive": st.alive,
                    "lat_ns": st.lat,
                    "last_ns": st.last_ns,
                }
            )
        elif op == "close":
            n = len(conns)
            for c in conns:
                if c.transport is not None and not c.transport.is_disconnected:
                    with contextlib.suppress(Exception):
                        c.transport.send_close(WSCloseCode.OK)
                        c.transport.disconnect()
            deadline = time.monotonic() + 60
            while st.alive > 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            conns.clear()
            reply({"closed": n, "alive": st.alive})
        elif op == "exit":
            return


def worker_main() -> None:
    import argparse

    import uvloop

    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--room", type=int, required=True)
    ap.add_argument("--tokens", required=True, help="file: one token per line")
    ap.add_argument("--concurrency", type=int, default=100)
    a = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(a.tokens) as f:
        tokens = [ln.strip() for ln in f if ln.strip()]
    uvloop.run(_worker(a.url, a.room, tokens, a.concurrency))


# ------------------------------------------------------------------------------------------
# coordinator side
# ------------------------------------------------------------------------------------------
class Fleet:
    """Worker processes holding subscribed connections; commands go to all of them."""

    def __init__(self, url: str, room: int, tokens_file: str, workers: int, concurrency: int):
        self.url, self.room, self.tokens_file = url, room, tokens_file
        self.n = workers
        self.concurrency = concurrency
        self.procs: list[asyncio.subprocess.Process] = []
        self.pids: list[int] = []

    async def start(self) -> None:
        for _ in range(self.n):
            p = await asyncio.create_subprocess_exec(
                sys.executable,
                _SELF,
                "--url",
                self.url,
                "--room",
                str(self.room),
                "--tokens",
                self.tokens_file,
                "--concurrency",
                str(self.concurrency),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=64 * 1024 * 1024,
            )
            self.procs.append(p)
            self.pids.append(p.pid)

    async def _one(self, p: asyncio.subprocess.Process, cmd: dict[str, Any], t: float) -> Any:
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(orjson.dumps(cmd) + b"\n")
        await p.stdin.drain()
        line = await asyncio.wait_for(p.stdout.readline(), t)
        if not line:
            raise RuntimeError(f"load generator worker {p.pid} exited (status {p.returncode})")
        return orjson.loads(line)

    async def each(self, cmds: list[dict[str, Any]], timeout: float = 600) -> list[Any]:
        """Command i to worker i, all at once."""
        return await asyncio.gather(
            *(self._one(p, c, timeout) for p, c in zip(self.procs, cmds, strict=True))
        )

    async def all(self, cmd: dict[str, Any], timeout: float = 600) -> list[Any]:
        return await self.each([cmd] * self.n, timeout)

    async def open(self, total: int, sources: list[str], already: int) -> dict[str, Any]:
        """Open connections until ``total`` are open over all workers (evenly)."""
        want = total - already
        share = [want // self.n + (1 if i < want % self.n else 0) for i in range(self.n)]
        t0 = time.monotonic()
        res = await self.each(
            [
                {"op": "open", "n": share[i], "source": sources[i % len(sources)]}
                for i in range(self.n)
            ]
        )
        return {
            "open": sum(r["open"] for r in res),
            "failed": sum(r["failed"] for r in res),
            "s": time.monotonic() - t0,
        }

    async def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(Exception):
                assert p.stdin is not None
                p.stdin.write(b'{"op":"exit"}\n')
                await p.stdin.drain()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.wait(), 30)
            except TimeoutError:
                p.kill()
                await p.wait()


if __name__ == "__main__":
    worker_main()
