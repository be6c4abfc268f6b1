"""Load generator for the wirechat benchmark (one workload per invocation).

Speaks tRPC v11 through ``wirechat.client`` (WebSocket on picows, with a frame hook that
recognises deliveries by a byte search instead of decoding JSON) under uvloop, so the same
generator drives wirechat and the Node baseline; the HTTP workload writes the exact
httpBatchLink request on lean keep-alive connections (``rawhttp.py``). It prints
one JSON object on its last stdout line: the workload's figures plus the CPU seconds used by the
server process tree (`--pid`, read from /proc/<pid>/stat) and by the generator itself over the
measured window.

Usage (normally called by bench/run.py):
    loadgen.py fanout --http-port P --ws-port W --pid PID --state FILE --subs 100 --messages 2000
    loadgen.py chat   ... --users 1000 --room-size 6 --rate 2 --duration 30
    loadgen.py http   ... --proc auth.me --batch 10 --conns 32 --duration 8
    loadgen.py idle   ... --conns 1000
    loadgen.py resume ... --subs 1000 --behind 100
    loadgen.py scale  ... --sizes 2000,5000,10000,19000
    loadgen.py churn  ... --conns 10000 --rounds 10

Every loop is bounded in count and in time; all traffic goes to 127.0.0.1.
"""

# ruff: noqa: ASYNC109, ASYNC110, ASYNC230  (a load generator: explicit timeouts, polling)
from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import random
import resource
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import uvloop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import contextlib

from fleet import Fleet
from procstat import CpuWindow, tree_rss_bytes
from rawhttp import HttpConn, http_get_raw

from wirechat.client import UNSET, Client, Event, Subscription
from wirechat.client.codec import batch_url

HOST = "127.0.0.1"
PASSWORD = "bench-password-1"
MARK = b"lg:"  # message texts are "lg:<msgno>:<send perf_counter_ns>:<filler>"
CREATED = b'"created"'  # only present in MessageEvent frames, never in a Message itself
perf_ns = time.perf_counter_ns


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


def pct(sorted_vals: list[int] | list[float], q: float) -> float | None:
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))
    return float(sorted_vals[i])


def lat_summary(lat_ns: list[int]) -> dict[str, float | None]:
    s = sorted(lat_ns)
    ms = 1e-6
    return {
        "lat_p50_ms": None if not s else pct(s, 0.50) * ms,  # type: ignore[operator]
        "lat_p99_ms": None if not s else pct(s, 0.99) * ms,  # type: ignore[operator]
        "lat_max_ms": None if not s else s[-1] * ms,
        "lat_samples": len(s),
    }


def text_for(msgno: int, filler: str) -> str:
    return f"lg:{msgno}:{perf_ns()}:{filler}"


FILLER = "the quick brown fox jumps over the lazy dog"  # ~ a typical chat line


def parse_mark(data: bytes, i: int) -> tuple[int, int]:
    j = data.find(b":", i + 3)
    k = data.find(b":", j + 1)
    return int(data[i + 3 : j]), int(data[j + 1 : k])


async def ws_connect(
    url: str, token: str, sink: Callable[[bytes], bool] | None = None, timeout: float = 60
) -> Client:
    """One WebSocket client, connected, authenticated with connectionParams; ``sink``
    sees every frame first and consumes the deliveries it recognises."""
    client = Client(ws_url=url, connection_params={"token": token}, calls="ws", frame_hook=sink)
    await asyncio.wait_for(client.ws.connect(), timeout)
    return client


def on_message(client: Client, room: int, last_event_id: str | None = None) -> Subscription:
    return client.subscribe("messages.onMessage", {"roomId": room}, last_event_id=last_event_id)


async def gather_limited(factories: list[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def run(f: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            return await f()

    return await asyncio.gather(*(run(f) for f in factories))


# --------------------------------------------------------------------------------------------
# shared setup
# --------------------------------------------------------------------------------------------
class Ctx:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.url = f"http://{HOST}:{args.http_port}/trpc"
        self.http = httpx.AsyncClient(
            timeout=60, limits=httpx.Limits(max_connections=8, max_keepalive_connections=8)
        )
        self.ws_url = f"ws://{HOST}:{args.ws_port}/"
        self.pids = [args.pid] if args.pid else []
        self.state_file = args.state
        self.state: dict[str, Any] = {"tag": secrets.token_hex(3), "users": []}
        if self.state_file and os.path.exists(self.state_file):
            with open(self.state_file, "rb") as f:
                self.state = orjson.loads(f.read())

    async def call(self, kind: str, path: str, inp: Any, token: str | None = None) -> Any:
        """A setup call over HTTP (registration, rooms): not measured."""
        headers = {"authorization": f"Bearer {token}"} if token else None
        client = Client(self.url, headers=headers, http=self.http)
        if kind == "mutation":
            return await client.mutate(path, inp)
        return await client.query(path, inp)

    @property
    def users(self) -> list[list[Any]]:
        return self.state["users"]  # [[id, token], ...]

    async def ensure_users(self, n: int) -> None:
        have = len(self.users)
        if have >= n:
            return
        t0 = time.monotonic()
        tag = self.state["tag"]

        async def reg(i: int) -> list[Any]:
            r = await self.call(
                "mutation", "auth.register", {"username": f"u{tag}_{i}", "password": PASSWORD}
            )
            return [r["user"]["id"], r["token"]]

        new = await gather_limited([lambda i=i: reg(i) for i in range(have, n)], 8)
        self.users.extend(new)
        if self.state_file:
            with open(self.state_file, "wb") as f:
                f.write(orjson.dumps(self.state))
        log(f"registered {n - have} users in {time.monotonic() - t0:.1f}s")

    async def make_room(self, owner: int, members: list[int], name: str) -> int:
        room = await self.call("mutation", "rooms.create", {"name": name}, self.users[owner][1])
        rid = int(room["id"])
        await gather_limited(
            [
                lambda u=u: self.call("mutation", "rooms.join", {"roomId": rid}, self.users[u][1])
                for u in members
                if u != owner
            ],
            8,
        )
        return rid

    async def connect_many(
        self, tokens: list[str], sinks: list[Callable[[bytes], bool] | None], limit: int = 200
    ) -> list[Client]:
        return await gather_limited(
            [
                lambda t=t, s=s: ws_connect(self.ws_url, t, s)
                for t, s in zip(tokens, sinks, strict=True)
            ],
            limit,
        )

    async def aclose(self) -> None:
        await self.http.aclose()


async def close_all(conns: list[Client]) -> None:
    await asyncio.wait_for(asyncio.gather(*(c.aclose() for c in conns)), 30)


async def send_sequence(
    ws: Client, room_id: int, msgnos: range, window: int, timeout: float
) -> None:
    """Send messages through `ws` with at most `window` mutations in flight."""
    sem = asyncio.Semaphore(window)
    deadline = time.monotonic() + timeout

    async def one(n: int) -> None:
        async with sem:
            await asyncio.wait_for(
                ws.mutate("messages.send", {"roomId": room_id, "text": text_for(n, FILLER)}),
                max(1.0, deadline - time.monotonic()),
            )

    await asyncio.gather(*(one(n) for n in msgnos))


# --------------------------------------------------------------------------------------------
# 1. fan-out
# --------------------------------------------------------------------------------------------
async def wl_fanout(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    n_subs, n_msgs, window, warm = a.subs, a.messages, a.window, a.warmup
    await ctx.ensure_users(n_subs + 1)
    room = await ctx.make_room(0, list(range(1, n_subs + 1)), f"fanout-{n_subs}")
    total = warm + n_msgs
    counts = [0] * total
    lat: list[int] = []
    st = {"done": 0, "deliveries": 0, "last_ns": 0}
    progress = asyncio.Event()

    def sink(data: bytes) -> bool:
        i = data.find(MARK)
        if i < 0 or data.find(CREATED) < 0:
            return False
        now = perf_ns()
        msgno, ts = parse_mark(data, i)
        c = counts[msgno] + 1
        counts[msgno] = c
        if msgno >= warm:
            lat.append(now - ts)
            st["deliveries"] += 1
            st["last_ns"] = now
        if c == n_subs:
            st["done"] += 1
            progress.set()
        return True

    t0 = time.monotonic()
    subs = await ctx.connect_many([ctx.users[u][1] for u in range(1, n_subs + 1)], [sink] * n_subs)
    await asyncio.wait_for(
        asyncio.gather(*(on_message(c, room).started() for c in subs)),
        120,
    )
    sender = await ws_connect(ctx.ws_url, ctx.users[0][1])
    log(f"fanout: {n_subs} subscribers ready in {time.monotonic() - t0:.1f}s")

    acked = 0
    errors = 0

    def on_ack(f: asyncio.Future[Any]) -> None:
        nonlocal acked, errors
        acked += 1
        if f.exception() is not None:
            errors += 1
        progress.set()

    async def run_phase(first: int, last: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        sent = first
        while st["done"] < last:
            if time.monotonic() > deadline:
                return False
            while sent < last and sent - st["done"] < window and sent - acked < window:
                f = asyncio.ensure_future(
                    sender.mutate("messages.send", {"roomId": room, "text": text_for(sent, FILLER)})
                )
                f.add_done_callback(on_ack)
                sent += 1
            progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), max(0.01, deadline - time.monotonic()))
        return True

    await run_phase(0, warm, 60)
    cpu = CpuWindow(ctx.pids)
    cpu.start()
    start_ns = perf_ns()
    complete = await run_phase(warm, total, a.timeout)
    end_ns = st["last_ns"] or perf_ns()
    cpu.stop()
    elapsed = (end_ns - start_ns) / 1e9
    deliveries = st["deliveries"]
    res = {
        "subscribers": n_subs,
        "messages": n_msgs,
        "window": window,
        "deliveries": deliveries,
        "expected": n_subs * n_msgs,
        "complete": complete,
        "send_errors": errors,
        "elapsed_s": elapsed,
        "deliveries_per_s": deliveries / elapsed if elapsed > 0 else None,
        "server_cpu_s": cpu.server,
        "server_cpu_s_per_M": cpu.server / deliveries * 1e6 if deliveries else None,
        "gen_cpu_s": cpu.gen,
        "gen_cpu_pct": 100 * cpu.gen / elapsed if elapsed > 0 else None,
    }
    res.update(lat_summary(lat))
    await close_all([*subs, sender])
    return res


# --------------------------------------------------------------------------------------------
# 2. chat mix
# --------------------------------------------------------------------------------------------
async def wl_chat(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    n_users, size, rate, duration = a.users, a.room_size, a.rate, a.duration
    await ctx.ensure_users(n_users)
    groups = [list(range(i, min(i + size, n_users))) for i in range(0, n_users, size)]
    t0 = time.monotonic()
    rooms = await gather_limited(
        [lambda g=g, k=k: ctx.make_room(g[0], g, f"chat-{k}") for k, g in enumerate(groups)], 4
    )
    lat: list[int] = []
    st = {"deliveries": 0, "measuring": False}

    def sink(data: bytes) -> bool:
        i = data.find(MARK)
        if i < 0 or data.find(CREATED) < 0:
            return False
        now = perf_ns()
        _msgno, ts = parse_mark(data, i)
        st["deliveries"] += 1
        lat.append(now - ts)
        return True

    conns = await ctx.connect_many([ctx.users[u][1] for u in range(n_users)], [sink] * n_users)
    started = []
    for g, rid in zip(groups, rooms, strict=False):
        for u in g:
            started.append(on_message(conns[u], rid).started())
    await asyncio.wait_for(asyncio.gather(*started), 120)
    log(f"chat: {n_users} users in {len(rooms)} rooms ready in {time.monotonic() - t0:.1f}s")

    rnd = random.Random(42)
    period = 1.0 / rate
    sends = 0
    errors = 0
    expected = 0
    pending: set[asyncio.Future[Any]] = set()

    def on_ack(f: asyncio.Future[Any]) -> None:
        nonlocal errors
        pending.discard(f)
        if f.exception() is not None:
            errors += 1

    cpu = CpuWindow(ctx.pids)
    cpu.start()
    start = time.monotonic()
    end = start + duration
    heap = [(start + rnd.random() * period, k) for k in range(len(rooms))]
    heapq.heapify(heap)
    max_sends = int(len(rooms) * rate * duration) + len(rooms)
    late_max = 0.0
    while heap and sends < max_sends:
        now = time.monotonic()
        if now >= end:
            break
        due, k = heap[0]
        if due > now:
            await asyncio.sleep(min(due - now, end - now))
            continue
        heapq.heapreplace(heap, (due + period, k))
        late_max = max(late_max, now - due)
        g = groups[k]
        f = asyncio.ensure_future(
            conns[rnd.choice(g)].mutate(
                "messages.send", {"roomId": rooms[k], "text": text_for(sends, FILLER)}
            )
        )
        pending.add(f)
        f.add_done_callback(on_ack)
        sends += 1
        expected += len(g)
    # drain: wait for the last deliveries (bounded)
    drain_deadline = time.monotonic() + 15
    while st["deliveries"] < expected and time.monotonic() < drain_deadline:
        await asyncio.sleep(0.02)
    wall = time.monotonic() - start
    cpu.stop()
    res = {
        "users": n_users,
        "rooms": len(rooms),
        "duration_s": duration,
        "sends": sends,
        "send_errors": errors,
        "deliveries": st["deliveries"],
        "expected": expected,
        "scheduler_late_max_ms": late_max * 1000,
        "server_cpu_s": cpu.server,
        "server_cpu_pct": 100 * cpu.server / wall,
        "server_cpu_s_per_M": cpu.server / st["deliveries"] * 1e6 if st["deliveries"] else None,
        "gen_cpu_s": cpu.gen,
        "gen_cpu_pct": 100 * cpu.gen / wall,
    }
    res.update(lat_summary(lat))
    await close_all(conns)
    return res


# --------------------------------------------------------------------------------------------
# 3. HTTP batches
# --------------------------------------------------------------------------------------------
async def wl_http(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    await ctx.ensure_users(1)
    token = ctx.users[0][1]
    if a.proc == "messages.list":
        room = await ctx.make_room(0, [0], "http-list")
        ws = await ws_connect(ctx.ws_url, token)
        await send_sequence(ws, room, range(a.seed_messages), 16, 120)
        await ws.aclose()
        calls: list[tuple[str, Any]] = [
            ("messages.list", {"roomId": room, "limit": a.limit})
        ] * a.batch
    else:
        calls = [("auth.me", UNSET)] * a.batch
    path = batch_url("/trpc", [p for p, _ in calls], [i for _, i in calls])
    raw = http_get_raw(HOST, a.http_port, path, {"authorization": f"Bearer {token}"})

    conns = [await HttpConn.open(HOST, a.http_port) for _ in range(a.conns)]
    status, body = await conns[0].request(raw)
    if status != 200 or b'"error"' in body:
        raise RuntimeError(f"batch call failed: {status} {body[:300]!r}")
    body_len = len(body)
    st = {"ok": 0, "bad": 0, "measuring": False}
    lat: list[int] = []
    stop_at = [0.0]

    async def worker(c: HttpConn) -> None:
        for _ in range(10_000_000):
            if time.monotonic() >= stop_at[0]:
                return
            t = perf_ns()
            status, body = await c.request(raw)
            if st["measuring"]:
                lat.append(perf_ns() - t)
                if status == 200 and b'"error"' not in body:
                    st["ok"] += 1
                else:
                    st["bad"] += 1

    # warm-up (JIT, caches), then the measured run
    stop_at[0] = time.monotonic() + a.warmup
    await asyncio.gather(*(worker(c) for c in conns))
    cpu = CpuWindow(ctx.pids)
    st["measuring"] = True
    cpu.start()
    t0 = time.monotonic()
    stop_at[0] = t0 + a.duration
    await asyncio.wait_for(asyncio.gather(*(worker(c) for c in conns)), a.duration + 60)
    elapsed = time.monotonic() - t0
    cpu.stop()
    for c in conns:
        c.close()
    n_calls = st["ok"] * a.batch
    res = {
        "proc": a.proc,
        "batch": a.batch,
        "conns": a.conns,
        "batches_ok": st["ok"],
        "batches_bad": st["bad"],
        "response_bytes": body_len,
        "elapsed_s": elapsed,
        "calls_per_s": n_calls / elapsed,
        "server_cpu_s": cpu.server,
        "server_cpu_us_per_call": cpu.server / n_calls * 1e6 if n_calls else None,
        "gen_cpu_s": cpu.gen,
        "gen_cpu_pct": 100 * cpu.gen / elapsed,
    }
    res.update({k.replace("lat_", "batch_lat_"): v for k, v in lat_summary(lat).items()})
    return res


# --------------------------------------------------------------------------------------------
# 4. idle connections
# --------------------------------------------------------------------------------------------
async def wl_idle(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    n = a.conns
    n_users = min(a.idle_users, n)
    await ctx.ensure_users(n_users)
    room = await ctx.make_room(0, list(range(n_users)), "idle")
    # one connection opened and closed first, so lazily created server state is in the baseline
    w = await ws_connect(ctx.ws_url, ctx.users[0][1])
    await on_message(w, room).started()
    await close_all([w])
    await asyncio.sleep(a.settle)
    rss0 = sum(tree_rss_bytes(p) for p in ctx.pids)
    t0 = time.monotonic()
    conns = await ctx.connect_many(
        [ctx.users[i % n_users][1] for i in range(n)], [None] * n, limit=a.connect_concurrency
    )
    await asyncio.wait_for(
        asyncio.gather(*(on_message(c, room).started() for c in conns)),
        300,
    )
    open_s = time.monotonic() - t0
    await asyncio.sleep(a.settle)
    alive = sum(1 for c in conns if c.ws.connected)
    rss1 = sum(tree_rss_bytes(p) for p in ctx.pids)
    await close_all(conns)
    return {
        "connections": n,
        "alive": alive,
        "open_s": open_s,
        "rss_before_mb": rss0 / 2**20,
        "rss_after_mb": rss1 / 2**20,
        "bytes_per_conn": (rss1 - rss0) / n,
        "kib_per_conn": (rss1 - rss0) / n / 1024,
    }


# --------------------------------------------------------------------------------------------
# 5. resume storm
# --------------------------------------------------------------------------------------------
async def wl_resume(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    n_subs, behind = a.subs, a.behind
    await ctx.ensure_users(n_subs + 1)
    room = await ctx.make_room(0, list(range(1, n_subs + 1)), "resume")
    total = 2 * behind
    # a live probe records the tracked id of every message, in stream (= sequence) order;
    # concurrent sends may be committed in any order, so msgno order is not assumed
    order: list[tuple[int, str]] = []

    def on_probe(event: Event) -> None:
        text = event.data["message"]["text"]
        order.append((int(text.split(":")[1]), str(event.id)))

    async def read_probe(sub: Subscription) -> None:
        async for event in sub:
            on_probe(event)

    probe = await ws_connect(ctx.ws_url, ctx.users[0][1])
    probe_sub = on_message(probe, room)
    await probe_sub.started()
    reader = asyncio.ensure_future(read_probe(probe_sub))
    await send_sequence(probe, room, range(total), 16, 120)
    for _ in range(500):
        if len(order) >= total:
            break
        await asyncio.sleep(0.01)
    reader.cancel()
    await probe.aclose()
    if len(order) < total:
        raise RuntimeError(f"probe saw {len(order)} of {total} events")
    cut = total - behind  # each subscriber had seen the first `cut` events of the stream
    last_event_id = order[cut - 1][1]
    too_old = bytearray(total)
    for msgno, _tid in order[:cut]:
        too_old[msgno] = 1
    final = order[-1][0]

    counts = [0] * n_subs
    done_ns = [0] * n_subs
    bad = [0]
    st = {"remaining": n_subs}
    all_done = asyncio.Event()

    def make_sink(idx: int) -> Callable[[bytes], bool]:
        def sink(data: bytes) -> bool:
            i = data.find(MARK)
            if i < 0 or data.find(CREATED) < 0:
                return False
            msgno, _ts = parse_mark(data, i)
            counts[idx] += 1
            if too_old[msgno]:
                bad[0] += 1
            if msgno == final:
                done_ns[idx] = perf_ns()
                st["remaining"] -= 1
                if st["remaining"] == 0:
                    all_done.set()
            return True

        return sink

    async def reconnect(idx: int) -> Client:
        c = await ws_connect(ctx.ws_url, ctx.users[idx + 1][1], make_sink(idx))
        await on_message(c, room, last_event_id).started()
        return c

    cpu = CpuWindow(ctx.pids)
    cpu.start()
    t0 = perf_ns()
    tasks = [asyncio.ensure_future(reconnect(i)) for i in range(n_subs)]
    try:
        await asyncio.wait_for(all_done.wait(), a.timeout)
        complete = True
    except TimeoutError:
        complete = False
    t1 = perf_ns()
    cpu.stop()
    conns = [t.result() for t in tasks if t.done() and t.exception() is None]
    times = sorted((d - t0) / 1e9 for d in done_ns if d)
    res = {
        "subscribers": n_subs,
        "behind": behind,
        "complete": complete,
        "caught_up": len(times),
        "connect_failures": n_subs - len(conns),
        "all_caught_up_s": (t1 - t0) / 1e9 if complete else None,
        "catchup_p50_s": pct(times, 0.5),
        "catchup_p99_s": pct(times, 0.99),
        "events_received": sum(counts),
        "events_expected": n_subs * behind,
        "replayed_too_old": bad[0],
        "server_cpu_s": cpu.server,
        "gen_cpu_s": cpu.gen,
    }
    await close_all(conns)
    return res


# --------------------------------------------------------------------------------------------
# 6. connection scaling and 7. churn (sockets held by bench/fleet.py worker processes)
# --------------------------------------------------------------------------------------------
def read_int_file(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "?"


def proc_nofile(pid: int) -> int:
    """The soft open-files limit of a running process (/proc/<pid>/limits)."""
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    v = line.split()[3]
                    return 1 << 30 if v == "unlimited" else int(v)
    except OSError:
        pass
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def capacity(ctx: Ctx, wanted: int, per_proc: int) -> dict[str, Any]:
    """What bounds the number of connections in this run, said plainly."""
    server = ctx.pids[0]
    srv_limit = proc_nofile(server)
    srv_free = srv_limit - open_fds(server) - 16  # the sender, setup sockets, spare
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    per_proc = max(1, min(per_proc, hard - 64))
    lo, hi = (int(x) for x in read_int_file("/proc/sys/net/ipv4/ip_local_port_range").split())
    ports = hi - lo + 1
    per_proc = min(per_proc, ports - 1000)
    workers = max(1, -(-wanted // per_proc))
    cap = min(wanted, srv_free)
    bound = "the server's open-files limit" if srv_free < wanted else "the sizes asked for"
    note = (
        f"{cap:,} connections at most, bound by {bound} (server: open-files limit"
        f" {srv_limit:,}, room for {srv_free:,} more sockets); generator: {workers}"
        f" process(es) x <= {per_proc:,} sockets (open-files limit {soft:,}/{hard:,} each),"
        f" each on its own loopback source address with {ports:,} ephemeral ports"
        f" ({lo}-{hi})"
    )
    return {"cap": cap, "workers": workers, "note": note, "server_nofile": srv_limit}


async def scrape_registries(ctx: Ctx) -> dict[str, float]:
    """wirechat's registry gauges from /metrics (empty for a server without them)."""
    out: dict[str, float] = {}
    try:
        conn = await HttpConn.open(HOST, ctx.args.http_port)
    except OSError:
        return out
    try:
        status, body = await conn.request(http_get_raw(HOST, ctx.args.http_port, "/metrics"))
    except (OSError, TimeoutError):
        return out
    finally:
        conn.close()
    if status != 200:
        return out
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("wirechat_registry_entries{"):
            name = line.split('registry="', 1)[1].split('"', 1)[0]
            out[name] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("wirechat_ws_connections "):
            out["ws_connections"] = float(line.rsplit(" ", 1)[1])
    return out


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = slope * x + intercept, and r²."""
    n = len(xs)
    if n < 2:
        return 0.0, ys[0] if ys else 0.0, 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx if sxx else 0.0
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    return slope, intercept, 1 - ss_res / ss_tot if ss_tot else 1.0


async def fleet_setup(ctx: Ctx, tag: str, workers: int) -> tuple[int, Client, Fleet, str]:
    a = ctx.args
    await ctx.ensure_users(a.idle_users)
    room = await ctx.make_room(0, list(range(a.idle_users)), tag)
    tokens_file = (ctx.state_file or "/tmp/wcbench") + f".{tag}.tokens"
    with open(tokens_file, "w") as f:
        f.write("\n".join(u[1] for u in ctx.users[: a.idle_users]) + "\n")
    sender = await ws_connect(ctx.ws_url, ctx.users[0][1])
    # one subscriber first, so lazily built server state is in the "before" figures
    w = await ws_connect(ctx.ws_url, ctx.users[0][1])
    await on_message(w, room).started()
    await close_all([w])
    fleet = Fleet(ctx.ws_url, room, tokens_file, workers, a.connect_concurrency // workers + 1)
    await fleet.start()
    return room, sender, fleet, tokens_file


async def wl_scale(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    sizes = sorted({int(x) for x in a.sizes.split(",") if x.strip()})
    cap = capacity(ctx, sizes[-1], a.per_proc)
    log("scale: " + cap["note"])
    room, sender, fleet, tokens_file = await fleet_setup(ctx, "scale", cap["workers"])
    sources = [f"127.0.0.{2 + i}" for i in range(cap["workers"])]
    pid = ctx.pids[0]
    res: dict[str, Any] = {"limits": cap["note"], "sizes": sizes, "points": []}
    try:
        await asyncio.sleep(a.settle)
        rss0 = tree_rss_bytes(pid)
        gen_rss0 = sum(tree_rss_bytes(p) for p in fleet.pids)
        res["rss_before_mb"] = rss0 / 2**20
        opened = 0
        for msgno, size in enumerate(sizes, start=1):
            target = min(size, cap["cap"])
            r = await fleet.open(target, sources, opened)
            opened = r["open"]
            log(f"scale: {opened} open ({r['failed']} failed) in {r['s']:.1f}s")
            await asyncio.sleep(a.settle)
            rss = tree_rss_bytes(pid)
            fds = open_fds(pid)
            gen_rss = sum(tree_rss_bytes(p) for p in fleet.pids)
            await fleet.all({"op": "arm", "msgno": msgno})
            cpu = CpuWindow(ctx.pids)
            cpu.start()
            t_send = perf_ns()
            await asyncio.wait_for(
                sender.mutate("messages.send", {"roomId": room, "text": text_for(msgno, FILLER)}),
                60,
            )
            got = await fleet.all({"op": "expect", "msgno": msgno, "timeout": a.timeout})
            cpu.stop()
            received = sum(g["received"] for g in got)
            alive = sum(g["alive"] for g in got)
            last = max((g["last_ns"] for g in got), default=0)
            lat = sorted(x for g in got for x in g["lat_ns"])
            secs = (last - t_send) / 1e9 if last else None
            point = {
                "size": size,
                "connections": opened,
                "failed": r["failed"],
                "open_s": r["s"],
                "alive": alive,
                "rss_mb": rss / 2**20,
                "server_fds": fds,
                "kib_per_conn": (rss - rss0) / opened / 1024 if opened else None,
                "generator_kib_per_conn": (gen_rss - gen_rss0) / opened / 1024 if opened else None,
                "received": received,
                "missing": alive - received,
                "dupes": sum(g["dupes"] for g in got),
                "broadcast_ms": secs * 1000 if secs else None,
                "deliveries_per_s": received / secs if secs else None,
                "lat_p50_ms": (pct(lat, 0.5) or 0) / 1e6 if lat else None,
                "lat_p99_ms": (pct(lat, 0.99) or 0) / 1e6 if lat else None,
                "server_cpu_us_per_delivery": cpu.server / received * 1e6 if received else None,
                "rss_after_mb": tree_rss_bytes(pid) / 2**20,
            }
            res["points"].append(point)
            log(
                f"scale: {opened} conns, RSS {point['rss_mb']:.0f} MiB "
                f"({point['kib_per_conn']:.1f} KiB/conn), broadcast {received}/{alive} "
                f"in {point['broadcast_ms']} ms, dupes {point['dupes']}"
            )
            for k in (
                "kib_per_conn",
                "rss_mb",
                "broadcast_ms",
                "deliveries_per_s",
                "lat_p50_ms",
                "lat_p99_ms",
                "server_cpu_us_per_delivery",
                "connections",
            ):
                res[f"{k}_{size}"] = point[k]
        pts = res["points"]
        slope, intercept, r2 = linear_fit(
            [p["connections"] for p in pts], [p["rss_mb"] * 2**20 for p in pts]
        )
        res.update(
            slope_kib=slope / 1024,
            intercept_mb=intercept / 2**20,
            r2=r2,
            missing=sum(p["missing"] for p in pts),
            dupes=sum(p["dupes"] for p in pts),
            connect_failures=sum(p["failed"] for p in pts),
            max_connections=pts[-1]["connections"] if pts else 0,
        )
    finally:
        await fleet.all({"op": "close"})
        await fleet.stop()
        await close_all([sender])
        os.unlink(tokens_file)
    return res


RSS_BACK = 0.05
"""The churn target: RSS back within 5 % of its level before the first round."""


async def wl_churn(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    n = a.conns
    cap = capacity(ctx, n, a.per_proc)
    n = min(n, cap["cap"])
    log("churn: " + cap["note"])
    _room, sender, fleet, tokens_file = await fleet_setup(ctx, "churn", cap["workers"])
    pid = ctx.pids[0]

    async def stats() -> dict[str, Any]:
        st: dict[str, Any] = {"rss_mb": tree_rss_bytes(pid) / 2**20, "fds": open_fds(pid)}
        st.update(await scrape_registries(ctx))
        return st

    res: dict[str, Any] = {"limits": cap["note"], "connections": n, "rounds": []}
    try:
        await asyncio.sleep(a.settle)
        before = await stats()
        res["before"] = before
        for r in range(a.rounds):
            # a fresh source address per round and worker: the previous round's
            # TIME_WAIT sockets never take this round's ephemeral ports
            sources = [f"127.{1 + r % 250}.0.{2 + i}" for i in range(cap["workers"])]
            t0 = time.monotonic()
            o = await fleet.open(n, sources, 0)
            peak = await stats()
            await fleet.all({"op": "close"})
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # until the server has let go of every socket
                if open_fds(pid) <= before["fds"]:
                    break
                await asyncio.sleep(0.2)
            closed = time.monotonic()
            await asyncio.sleep(a.settle)
            # wirechat gives a wave's memory back once the wave is over (two keep-alive
            # ticks apart), which takes a moment on a busy host: wait for it, up to
            # --release-wait more seconds, and say how long it took.
            limit = time.monotonic() + a.release_wait
            while True:
                after = await stats()
                back = after["rss_mb"] <= before["rss_mb"] * (1 + RSS_BACK)
                if back or time.monotonic() >= limit:
                    break
                await asyncio.sleep(0.5)
            after["rss_back_s"] = round(time.monotonic() - closed, 1) if back else None
            row = {
                "round": r + 1,
                "opened": o["open"],
                "failed": o["failed"],
                "s": time.monotonic() - t0,
                "peak": peak,
                "after": after,
            }
            res["rounds"].append(row)
            registries = {k: v for k, v in after.items() if k not in ("rss_mb", "fds")}
            log(
                f"churn round {r + 1}: {o['open']} opened ({o['failed']} failed), peak RSS "
                f"{peak['rss_mb']:.0f} MiB, after {after['rss_mb']:.0f} MiB, fds "
                f"{after['fds']}, registries {registries}"
            )
        last = res["rounds"][-1]["after"] if res["rounds"] else before
        res["rss_before_mb"] = before["rss_mb"]
        res["rss_after_mb"] = last["rss_mb"]
        res["rss_return_pct"] = 100 * (last["rss_mb"] - before["rss_mb"]) / before["rss_mb"]
        res["peak_rss_mb"] = max((x["peak"]["rss_mb"] for x in res["rounds"]), default=0)
        backs = [x["after"]["rss_back_s"] for x in res["rounds"]]
        res["rss_back_max_s"] = max(backs) if backs and None not in backs else None
        res["fds_delta"] = last["fds"] - before["fds"]
        res["connect_failures"] = sum(x["failed"] for x in res["rounds"])
        for k in (
            "asyncio_tasks",
            "room_listeners",
            "presence_entries",
            "room_channels",
            "ws_connections",
        ):
            if k in last and k in before:
                res[f"{k}_delta"] = last[k] - before[k]
    finally:
        await fleet.stop()
        await close_all([sender])
        os.unlink(tokens_file)
    return res


# --------------------------------------------------------------------------------------------
WORKLOADS = {
    "fanout": wl_fanout,
    "chat": wl_chat,
    "http": wl_http,
    "idle": wl_idle,
    "resume": wl_resume,
    "scale": wl_scale,
    "churn": wl_churn,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("workload", choices=sorted(WORKLOADS))
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--ws-port", type=int, required=True)
    p.add_argument("--pid", type=int, default=0, help="server pid (its process tree is measured)")
    p.add_argument("--state", default="", help="JSON file caching registered users")
    p.add_argument("--timeout", type=float, default=180)
    # fanout / resume
    p.add_argument("--subs", type=int, default=100)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--window", type=int, default=8, help="fanout: messages not yet fully delivered")
    p.add_argument("--warmup", type=int, default=50, help="fanout: unmeasured warm-up messages")
    p.add_argument("--behind", type=int, default=100)
    # chat
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--room-size", type=int, default=6)
    p.add_argument("--rate", type=float, default=2.0, help="messages per second per room")
    p.add_argument("--duration", type=float, default=30)
    # http
    p.add_argument("--proc", default="auth.me", choices=["auth.me", "messages.list"])
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--conns", type=int, default=32)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--seed-messages", type=int, default=100)
    p.add_argument("--http-warmup", dest="warmup_s", type=float, default=1.5)
    # idle
    p.add_argument("--idle-users", type=int, default=50)
    p.add_argument("--settle", type=float, default=3.0)
    p.add_argument(
        "--release-wait",
        type=float,
        default=15.0,
        help="churn: after --settle, how long more RSS may take to return",
    )
    p.add_argument("--connect-concurrency", type=int, default=200)
    # scale / churn
    p.add_argument("--sizes", default="2000,5000,10000,19000", help="scale: connection counts")
    p.add_argument("--per-proc", type=int, default=8000, help="sockets per generator process")
    p.add_argument("--rounds", type=int, default=10, help="churn: connect/disconnect rounds")
    args = p.parse_args()
    if args.workload == "http":
        args.warmup = args.warmup_s

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    async def run() -> dict[str, Any]:
        ctx = Ctx(args)
        try:
            return await WORKLOADS[args.workload](ctx)
        finally:
            await ctx.aclose()

    res = uvloop.run(run())
    sys.stdout.write(orjson.dumps(res).decode() + "\n")


if __name__ == "__main__":
    main()
