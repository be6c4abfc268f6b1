#!/usr/bin/env python3
"""Where the memory of an idle subscribed WebSocket connection goes (a diagnostic).

    .venv/bin/python bench/connmem.py --conns 10000            # RSS, objects, tasks per conn
    .venv/bin/python bench/connmem.py --conns 10000 --trace    # plus tracemalloc by line

Starts wirechat in a child process (this file, ``serve`` mode: the usual application
with a SIGUSR1 handler that writes a report), takes a report, opens N WebSockets that
each subscribe to one room's ``messages.onMessage``, takes a second report and prints
the difference per connection: RSS, Python heap (tracemalloc, when ``--trace``), live
objects by type (``gc``), asyncio tasks, and the largest allocation sites. tracemalloc
slows the server several times over, so it is off unless asked for; the RSS figure is
only exact without it. The instrumentation lives here, not in the server.
"""

# ruff: noqa: ASYNC230, ASYNC240  (a diagnostic: blocking reads of small report files)
from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of /proc/<pid>/status: VmRSS, or RssAnon / RssFile (its parts)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def heap_range() -> tuple[int, int]:
    """The [heap] mapping's start and end addresses (glibc's main arena)."""
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith("[heap]"):
                lo, hi = line.split()[0].split("-")
                return int(lo, 16), int(hi, 16)
    return 0, 0


def resident_pages(lo: int, hi: int) -> int:
    """How many pages of [lo, hi) are in memory (/proc/self/pagemap, bit 63)."""
    if hi <= lo:
        return 0
    first, last = lo >> 12, (hi - 1) >> 12
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(first * 8)
        raw = f.read((last - first + 1) * 8)
    return sum(1 for i in range(7, len(raw), 8) if raw[i] & 0x80)


def _all_types() -> dict[int, str]:
    names: dict[int, str] = {}
    todo = [object]
    while todo:
        t = todo.pop()
        if id(t) in names:
            continue
        names[id(t)] = f"{t.__module__}.{t.__qualname__}"
        try:
            todo.extend(t.__subclasses__())
        except TypeError:
            todo.extend(type.__subclasses__(t))  # type: ignore[arg-type]
    for o in gc.get_objects():
        t = type(o)
        names.setdefault(id(t), f"{t.__module__}.{t.__qualname__}")
    return names


def heap_chunks(above: int) -> dict[str, tuple[int, int]]:
    """glibc's in-use chunks of the main heap above ``above``, by what they hold: the
    Python type found in their header (with or without a gc head), else their size."""
    import struct

    lo, hi = heap_range()
    with open("/proc/self/mem", "rb") as f:
        f.seek(lo)
        buf = f.read(hi - lo)
    types = _all_types()
    found: dict[str, list[int]] = {}
    pos = 0
    end = len(buf) - 32
    unpack = struct.unpack_from
    while pos < end:
        size = unpack("<Q", buf, pos + 8)[0] & ~7
        if size < 32 or pos + size >= len(buf) - 16:
            break
        nxt = pos + size
        in_use = unpack("<Q", buf, nxt + 8)[0] & 1
        if in_use and lo + pos >= above:
            payload = pos + 16
            name = ""
            if size >= 48:
                plain = types.get(unpack("<Q", buf, payload + 8)[0])
                tracked = types.get(unpack("<Q", buf, payload + 24)[0])
                name = plain or (tracked and tracked + " (gc)") or ""
            if not name:
                name = f"? {size} B"
            entry = found.setdefault(name, [0, 0])
            entry[0] += 1
            entry[1] += size
        pos = nxt
    return {k: (v[0], v[1]) for k, v in found.items()}


def pinned_pages(above: int) -> dict[str, int]:
    """Pages above address ``above`` in the heap that hold a live Python object, by the
    type of the first object found on each (gc-tracked objects and what they refer to)."""
    lo, hi = heap_range()
    lo = max(lo, above)
    pages: dict[int, str] = {}
    seen: set[int] = set()
    for obj in gc.get_objects():
        for o in (obj, *gc.get_referents(obj)):
            address = id(o)
            if address in seen:
                continue
            seen.add(address)
            if lo <= address < hi:
                name = type(o).__qualname__
                if o is not obj:
                    name += " in " + type(obj).__qualname__
                    if isinstance(obj, list):
                        name += f" of {len(obj)} {repr(obj[0])[:40]}"
                    if isinstance(obj, dict) and o in obj.values():
                        keys = [k for k, v in obj.items() if v is o][:1]
                        name += f"[{keys[0]!r}]"[:60] if keys else ""
                elif isinstance(o, tuple):
                    name += " " + repr(o)[:60]
                pages.setdefault(address >> 12, name)
    return dict(collections.Counter(pages.values()))


def big_mappings(pid: int, at_least: int = 512 * 1024) -> list[tuple[str, int]]:
    """Resident anonymous mappings of at least ``at_least`` bytes: (address range, RSS)."""
    out: list[tuple[str, int]] = []
    current = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):
                fields = line.split()
                current = first if len(fields) < 6 or fields[5] == "[heap]" else ""
            elif current and first == "Rss:":
                rss = int(line.split()[1]) * 1024
                if rss >= at_least:
                    out.append((current, rss))
    return out


def _mallinfo() -> dict[str, int]:
    """glibc's view: bytes in use and free in its heaps (mallinfo2)."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return {name: int(getattr(info, name)) for name, _ in MallInfo2._fields_}


def _pymalloc_arenas() -> str:
    """The arena lines of sys._debugmallocstats (pymalloc's own heap)."""
    import contextlib
    import io

    buf = io.StringIO()
    r, w = os.pipe()
    saved = os.dup(2)
    os.dup2(w, 2)
    try:
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(w)
    with os.fdopen(r) as f, contextlib.redirect_stdout(buf):
        text = f.read()
    return "; ".join(ln.strip() for ln in text.splitlines() if "arenas" in ln or "Total" in ln)


# ------------------------------------------------------------------------------------------
# server side
# ------------------------------------------------------------------------------------------
def _arenas_now(pymalloc: str) -> str:
    """pymalloc's current arena count, or what runs instead (PYTHONMALLOC=malloc)."""
    parts = [p.strip() for p in pymalloc.split(";") if "allocated current" in p]
    return parts[0] if parts else "no pymalloc arenas (PYTHONMALLOC=malloc)"


def serve(report_dir: str, trace: bool) -> int:
    import tracemalloc

    from wirechat.allocator import use_malloc

    use_malloc()  # the allocator `wirechat serve` runs on; PYTHONMALLOC=pymalloc to compare

    if trace:
        tracemalloc.start(8)
    import uvloop

    from wirechat.chat.app import build_application
    from wirechat.config import Settings
    from wirechat.server import Application, serve

    count = [0]
    heap_top = [0]

    def report() -> None:
        action_file = os.path.join(report_dir, "action")
        action = ""
        if os.path.exists(action_file):
            with open(action_file) as f:
                action = f.read().strip()
        data: dict[str, Any] = {"rss_before_action": rss_bytes(os.getpid())}
        if action == "pause":
            # What one full collection costs the event loop with this much alive.
            tracked = len(gc.get_objects())
            started = time.perf_counter()
            gc.collect()
            data["full_gc"] = (tracked, (time.perf_counter() - started) * 1000)
        if action in ("gc", "trim"):
            gc.collect()
            data["rss_after_gc"] = rss_bytes(os.getpid())
        if action == "trim":
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        if action:
            data["malloc"] = _mallinfo()
            data["pinned"] = pinned_pages(heap_top[0])
            if os.environ.get("CONNMEM_CHUNKS"):
                data["chunks"] = heap_chunks(heap_top[0])
            lo, hi = heap_range()
            data["resident"] = (
                resident_pages(lo, heap_top[0]) * 4096,
                resident_pages(heap_top[0], hi) * 4096,
            )
            data["pymalloc"] = _pymalloc_arenas()
        types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        data |= {
            "rss": rss_bytes(os.getpid()),
            "rss_anon": rss_bytes(os.getpid(), "RssAnon"),
            "rss_file": rss_bytes(os.getpid(), "RssFile"),
            "mappings": big_mappings(os.getpid()),
            "malloc_now": _mallinfo(),
            "tasks": len(asyncio.all_tasks()),
            "types": dict(types),
            "fds": len(os.listdir("/proc/self/fd")),
        }
        if trace:
            data["traced"] = tracemalloc.get_traced_memory()[0]
            tracemalloc.take_snapshot().dump(os.path.join(report_dir, f"snap{count[0]}"))
        if count[0] == 0:
            heap_top[0] = heap_range()[1]  # what a wave adds to the heap lies above it
            lo, hi = heap_range()
            data["resident"] = (resident_pages(lo, hi) * 4096, 0)
        with open(os.path.join(report_dir, f"report{count[0]}.pickle"), "wb") as f:
            pickle.dump(data, f)
        count[0] += 1

    async def factory(settings: Settings) -> Application:
        application = await build_application(settings)
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, report)
        return application

    return uvloop.run(serve(Settings(), factory))


def _breakdown(label: str, rep: dict[str, Any]) -> str:
    """One report's RSS split: anonymous / file-backed pages, glibc's heap, big mappings."""
    m = rep.get("malloc_now", {})
    maps = ", ".join(f"{rss / 2**10:.0f}K" for _, rss in rep.get("mappings", []))
    below, above = rep.get("resident", (0, 0))
    maps += (
        f"; heap resident below the first report's top {below / 2**20:.1f} MiB,"
        f" above {above / 2**20:.1f} MiB"
    )
    return (
        f"{label}: RSS {rep['rss'] / 2**20:.1f} MiB = anon {rep.get('rss_anon', 0) / 2**20:.1f}"
        f" + file {rep.get('rss_file', 0) / 2**20:.1f}; glibc in use"
        f" {m.get('uordblks', 0) / 2**20:.1f} MiB, free {m.get('fordblks', 0) / 2**20:.1f},"
        f" mmapped {m.get('hblkhd', 0) / 2**20:.1f} MiB in {m.get('hblks', 0)};"
        f" anonymous mappings >= 512K resident: [{maps}]"
    )


# ------------------------------------------------------------------------------------------
# client side
# ------------------------------------------------------------------------------------------
async def drive(
    args: argparse.Namespace, pid: int, http_port: int, ws_port: int, rdir: str
) -> None:
    from loadgen import Ctx, on_message, ws_connect

    from wirechat.client import Client

    ctx = Ctx(argparse.Namespace(http_port=http_port, ws_port=ws_port, pid=pid, state=""))
    await ctx.ensure_users(args.users)
    tokens = [u[1] for u in ctx.users]
    room = await ctx.make_room(0, list(range(args.users)), "mem")

    async def take(n: int, action: str = "") -> dict[str, Any]:
        with open(os.path.join(rdir, "action"), "w") as f:
            f.write(action)
        os.kill(pid, signal.SIGUSR1)
        path = os.path.join(rdir, f"report{n}.pickle")
        for _ in range(6000):
            if os.path.exists(path):
                await asyncio.sleep(0.5)
                with open(path, "rb") as f:
                    data: dict[str, Any] = pickle.load(f)
                return data
            await asyncio.sleep(0.05)
        raise RuntimeError("no report from the server")

    url = f"ws://127.0.0.1:{ws_port}/"
    # one connection first, so lazily built server state is in the "before" figure
    warm = await ws_connect(url, tokens[0])
    await on_message(warm, room).started()
    await asyncio.sleep(1)
    before = await take(0)
    sem = asyncio.Semaphore(200)

    async def one(i: int) -> Client:
        async with sem:
            c = await ws_connect(url, tokens[i % len(tokens)])
            await on_message(c, room).started()
            return c

    t0 = time.monotonic()
    conns = await asyncio.gather(*(one(i) for i in range(args.conns)))
    print(f"opened {len(conns)} subscribed connections in {time.monotonic() - t0:.1f}s")
    await asyncio.sleep(3)
    after = await take(1)
    n = args.conns
    tracked, pause_ms = (await take(2, "pause"))["full_gc"]
    print(
        f"a full collection with them open: {pause_ms:.0f} ms over {tracked} tracked objects"
        " (the event loop waits for it)"
    )
    print(
        f"RSS      {before['rss'] / 2**20:8.1f} -> {after['rss'] / 2**20:8.1f} MiB:"
        f" {(after['rss'] - before['rss']) / n:8.0f} B per connection"
    )
    if "traced" in after:
        print(
            f"traced   {(after['traced'] - before['traced']) / n:8.0f} B per connection"
            " (Python allocator, tracemalloc)"
        )
    print(f"tasks    {(after['tasks'] - before['tasks']) / n:8.2f} per connection")
    print(f"fds      {(after['fds'] - before['fds']) / n:8.2f} per connection")
    print("objects per connection (gc-tracked, by type):")
    diff = {k: after["types"].get(k, 0) - before["types"].get(k, 0) for k in after["types"]}
    for name, d in sorted(diff.items(), key=lambda kv: -kv[1])[:30]:
        if d / n >= 0.5:
            print(f"  {d / n:6.2f}  {name}")
    if "traced" in after:
        import tracemalloc

        s0 = tracemalloc.Snapshot.load(os.path.join(rdir, "snap0"))
        s1 = tracemalloc.Snapshot.load(os.path.join(rdir, "snap1"))
        print("allocation sites, bytes per connection (tracemalloc, by line):")
        for stat in s1.compare_to(s0, "lineno")[: args.top]:
            if stat.size_diff / n < 8:
                continue
            frame = stat.traceback[0]
            fn = frame.filename.replace(ROOT + "/", "").replace(sys.prefix + "/", "")
            size, blocks = stat.size_diff / n, stat.count_diff / n
            print(f"  {size:8.0f} B {blocks:6.2f} blocks  {fn}:{frame.lineno}")
        print("allocation sites, bytes per connection (by traceback, first frames in wirechat):")
        for stat in s1.compare_to(s0, "traceback")[: args.top]:
            if stat.size_diff / n < 64:
                continue
            frames = [
                f"{os.path.basename(f.filename)}:{f.lineno}" for f in list(stat.traceback)[:8]
            ]
            print(f"  {stat.size_diff / n:8.0f} B  " + " < ".join(frames))
    await asyncio.gather(*(c.aclose() for c in conns))
    await asyncio.sleep(5)
    closed = await take(3)
    print(
        f"closed   RSS {closed['rss'] / 2**20:8.1f} MiB, objects {sum(closed['types'].values())}"
        f" (before: {sum(before['types'].values())})"
    )
    collected = await take(4, "gc")
    print(f"gc       RSS {collected['rss_after_gc'] / 2**20:8.1f} MiB")
    trimmed = await take(5, "trim")
    print(f"trim     RSS {trimmed['rss'] / 2**20:8.1f} MiB (gc.collect, then malloc_trim(0))")
    for name, rep in (("closed", closed), ("gc", collected), ("trim", trimmed)):
        m = rep.get("malloc", {})
        print(
            f"  {name}: glibc heap {m.get('arena', 0) / 2**20:.1f} MiB (in use"
            f" {m.get('uordblks', 0) / 2**20:.1f}, free {m.get('fordblks', 0) / 2**20:.1f}),"
            f" mmapped {m.get('hblkhd', 0) / 2**20:.1f} MiB; pymalloc: {rep.get('pymalloc')}"
        )
    print(_breakdown("before", before))
    print(_breakdown("trim", trimmed))
    pinned = sorted(trimmed.get("pinned", {}).items(), key=lambda kv: -kv[1])
    print(f"  heap pages above the first report's top, by first Python object: {pinned[:12]}")
    report = 6
    for round_no in range(2, args.rounds + 1):
        # further rounds: whatever grows from round to round (objects by type, heaps)
        conns = await asyncio.gather(*(one(i) for i in range(args.conns)))
        await asyncio.gather(*(c.aclose() for c in conns))
        await asyncio.sleep(5)
        rep = await take(report, "trim")
        report += 1
        grown = {
            k: v - trimmed["types"].get(k, 0)
            for k, v in rep["types"].items()
            if v - trimmed["types"].get(k, 0) > 0
        }
        top = sorted(grown.items(), key=lambda kv: -kv[1])[:8]
        m = rep.get("malloc", {})
        print(
            f"round {round_no}: RSS {rep['rss'] / 2**20:.1f} MiB after gc+trim, objects"
            f" {sum(rep['types'].values())}, glibc in use {m.get('uordblks', 0) / 2**20:.1f} MiB,"
            f" {_arenas_now(rep.get('pymalloc', ''))}; more than after round 1: {top}"
        )
        print(_breakdown(f"round {round_no}", rep))
        chunks = sorted(rep.get("chunks", {}).items(), key=lambda kv: -kv[1][0])
        print(f"  in-use chunks above the first report's top (count, bytes): {chunks[:40]}")
        pinned = sorted(rep.get("pinned", {}).items(), key=lambda kv: -kv[1])
        print(f"  heap pages above the first report's top, by first Python object: {pinned[:12]}")
    await warm.aclose()
    await ctx.aclose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", nargs="?", default="run", choices=["run", "serve"])
    ap.add_argument("--conns", type=int, default=10_000)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=1, help="open and close N times")
    ap.add_argument("--trace", action="store_true", help="tracemalloc (slow; RSS inflated)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--report-dir", default="")
    args = ap.parse_args()
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.mode == "serve":
        return serve(args.report_dir, args.trace)

    from run import free_port, http_ok, port_open, server_env

    rdir = tempfile.mkdtemp(prefix="wcmem-")
    http_port, ws_port = free_port(), free_port()
    env = server_env(http_port, ws_port, os.path.join(rdir, "data"))
    cmd = [sys.executable, __file__, "serve", "--report-dir", rdir]
    cmd += ["--trace"] if args.trace else []
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    try:
        for _ in range(1500):
            if http_ok(http_port) and port_open(ws_port):
                break
            if proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        import uvloop

        uvloop.run(drive(args, proc.pid, http_port, ws_port, rdir))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
