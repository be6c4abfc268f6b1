#!/usr/bin/env python3
"""wirechat benchmark suite: wirechat beside a Node baseline, measured in the same run.

    .venv/bin/python bench/run.py                       # everything, 3 repetitions, median
    .venv/bin/python bench/run.py --quick               # smoke run with small counts
    .venv/bin/python bench/run.py --only fanout,http    # some workloads
    .venv/bin/python bench/run.py --servers baseline    # one side only

Starts each server itself (fresh temp data dir, free loopback ports), drives it with
bench/loadgen.py (a separate process), prints a table and writes bench/RESULTS.md.
Raw per-repetition figures go to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
BASELINE_DIR = os.path.join(BENCH, "baseline-node")
WIRECHAT_BIN = os.path.join(ROOT, ".venv", "bin", "wirechat")
PY = sys.executable
LOADGEN = os.path.join(BENCH, "loadgen.py")
HOST = "127.0.0.1"
WORKLOAD_NAMES = ["fanout", "chat", "http", "idle", "resume", "scale", "churn"]
SIDES = ["wirechat", "baseline"]


def wirechat_cmd() -> list[str]:
    """`wirechat serve` from the venv; WIRECHAT_CMD (a shell-quoted command) overrides it."""
    override = os.environ.get("WIRECHAT_CMD", "").strip()
    return shlex.split(override) if override else [WIRECHAT_BIN, "serve"]


def say(msg: str) -> None:
    # output closed (e.g. piped into head): keep running, stay quiet
    with contextlib.suppress(BrokenPipeError):
        print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def http_ok(port: int, path: str = "/health", timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(
                f"GET {path} HTTP/1.1\r\nhost: {HOST}:{port}\r\nconnection: close\r\n\r\n".encode()
            )
            s.settimeout(timeout)
            head = s.recv(64)
        return head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def server_env(http_port: int, ws_port: int, data_dir: str) -> dict[str, str]:
    """The environment a benchmarked server starts with (bench/README.md, "The two servers"):
    ports, a fresh data dir, cheap Argon2, and every limit a workload would otherwise
    measure raised out of the way. connmem.py starts its server with it too."""
    env = dict(os.environ)
    env.update(
        PORT=str(http_port),
        WS_PORT=str(ws_port),
        HOST=HOST,
        DATA_DIR=data_dir,
        JWT_SECRET=secrets.token_hex(32),
        LOG_LEVEL="warning",
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_COST="8192",
        RATE_LIMIT_MESSAGES="1000000",
        RATE_LIMIT_ROOMS="1000000/1s",
        RATE_LIMIT_REGISTER="1000000/1s",
        RATE_LIMIT_LOGIN="1000000/1s",
        MAX_QUEUED_HASHES="100000",
        # The connection workloads hold as many sockets as the file limit allows,
        # from a few loopback addresses: the caps must not be what they measure.
        MAX_CONNECTIONS="1000000",
        MAX_CONNECTIONS_PER_IP="1000000",
    )
    return env


class Server:
    def __init__(self, side: str):
        self.side = side
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir = ""
        self.http_port = 0
        self.ws_port = 0
        self.error = ""

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def command(self) -> tuple[list[str], str, dict[str, str]]:
        env = server_env(self.http_port, self.ws_port, os.path.join(self.dir, "data"))
        if self.side == "wirechat":
            return wirechat_cmd(), ROOT, env
        env["NODE_ENV"] = "production"
        return ["node", "--import", "tsx", "src/server.ts"], BASELINE_DIR, env

    def start(self, timeout: float = 60) -> bool:
        self.dir = tempfile.mkdtemp(prefix=f"wcbench-{self.side}-")
        os.makedirs(os.path.join(self.dir, "data"))
        self.http_port, self.ws_port = free_port(), free_port()
        while self.ws_port == self.http_port:
            self.ws_port = free_port()
        cmd, cwd, env = self.command()
        self.log_path = os.path.join(self.dir, "server.log")
        log = open(self.log_path, "wb")  # noqa: SIM115 (handed to the child, closed below)
        try:
            self.proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as e:
            self.error = f"cannot execute {cmd[0]}: {e}"
            return False
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.error = f"exited with status {self.proc.returncode} during startup"
                return False
            if http_ok(self.http_port) and port_open(self.ws_port):
                return True
            time.sleep(0.2)
        self.error = (
            f"not ready after {timeout:.0f}s"
            f" (GET /health on {self.http_port}, WS on {self.ws_port})"
        )
        self.stop()
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 15) -> str:
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join("    | " + ln for ln in lines[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group this script created
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""


# --------------------------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------------------------
@dataclass
class Metric:
    key: str  # key in the loadgen JSON
    label: str
    fmt: str = "{:.1f}"
    target: str = ""  # e.g. "<= 0.33" (ratio wirechat/baseline)
    limit: str = ""  # e.g. "<= 20": an absolute target for wirechat's own figure


@dataclass
class Case:
    name: str  # row label
    workload: str
    args: list[str]
    metrics: list[Metric]
    fresh_server_per_rep: bool = False
    timeout: float = 900
    reps: int | None = None  # instead of --reps (one long run that measures many points)
    sides: list[str] | None = None  # only these servers
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)


GEN = Metric("gen_cpu_pct", "load generator CPU, % of a core", "{:.0f}")


def build_cases(quick: bool, scale_sizes: list[int] | None = None) -> list[Case]:
    q = quick
    cases: list[Case] = []
    # Memory and connection counts first: they are the figures least disturbed by other
    # load on the machine, CPU and latency figures come after.
    sizes = scale_sizes or ([2000, 10000] if q else [2000, 5000, 10000, 19000])
    top = sizes[-1]
    at = f"{top // 1000}k"
    per_conn = [
        Metric("kib_per_conn_10000", "RSS KiB per connection at 10k", "{:.1f}", "", "<= 20")
    ]
    if top != 10000:
        per_conn.append(
            Metric(f"kib_per_conn_{top}", f"RSS KiB per connection at {at}", "{:.1f}", "", "<= 20")
        )
    cases.append(
        Case(
            "connection scaling",
            "scale",
            ["--sizes", ",".join(map(str, sizes)), "--settle", "3", "--timeout", "120"],
            [
                *per_conn,
                Metric("slope_kib", "RSS slope, KiB per connection (fit)", "{:.1f}"),
                Metric("r2", "RSS fit r²", "{:.4f}"),
                Metric(f"rss_mb_{top}", f"server RSS MiB at {at}", "{:.0f}"),
                Metric(
                    f"broadcast_ms_{top}", f"one message to {at}: ms until all have it", "{:.0f}"
                ),
                Metric(f"deliveries_per_s_{top}", f"one message to {at}: deliveries/s", "{:,.0f}"),
                Metric(f"lat_p50_ms_{top}", f"one message to {at}: latency p50 ms", "{:.0f}"),
                Metric(f"lat_p99_ms_{top}", f"one message to {at}: latency p99 ms", "{:.0f}"),
                Metric(
                    f"server_cpu_us_per_delivery_{top}",
                    f"one message to {at}: server CPU us per delivery",
                    "{:.1f}",
                ),
            ],
            timeout=1800,
            reps=1,
        )
    )
    rounds = 3 if q else 10
    cases.append(
        Case(
            f"churn {rounds}x10000",
            "churn",
            ["--conns", "10000", "--rounds", str(rounds), "--settle", "3"],
            [
                Metric(
                    "rss_return_pct",
                    "RSS after last round vs before round 1, %",
                    "{:+.1f}",
                    "",
                    "<= 5",
                ),
                Metric("peak_rss_mb", "peak server RSS MiB", "{:.0f}"),
                Metric(
                    "rss_back_max_s",
                    "slowest return of RSS after a round's last socket, s",
                    "{:.1f}",
                ),
                Metric("fds_delta", "open fds after - before", "{:+.0f}"),
                Metric("asyncio_tasks_delta", "asyncio tasks after - before", "{:+.0f}"),
                Metric("room_listeners_delta", "hub listeners after - before", "{:+.0f}"),
                Metric("presence_entries_delta", "presence entries after - before", "{:+.0f}"),
            ],
            timeout=3600,
            reps=1,
            sides=["wirechat"],
        )
    )
    msgs = 300 if q else 2000
    for subs in [50, 200] if q else [100, 1000]:
        cases.append(
            Case(
                f"fan-out {subs} subs",
                "fanout",
                ["--subs", str(subs), "--messages", str(msgs), "--warmup", "30" if q else "50"],
                [
                    Metric("deliveries_per_s", "deliveries/s", "{:,.0f}"),
                    Metric(
                        "server_cpu_s_per_M", "server CPU s per 1M deliveries", "{:.2f}", "<= 0.33"
                    ),
                    Metric("lat_p50_ms", "latency p50 ms", "{:.2f}"),
                    Metric("lat_p99_ms", "latency p99 ms", "{:.2f}", "<= 0.5"),
                    GEN,
                ],
            )
        )
    users = 120 if q else 1000
    cases.append(
        Case(
            f"chat mix {users} users",
            "chat",
            [
                "--users",
                str(users),
                "--room-size",
                "6",
                "--rate",
                "2",
                "--duration",
                "8" if q else "30",
            ],
            [
                Metric("lat_p50_ms", "latency p50 ms", "{:.2f}"),
                Metric("lat_p99_ms", "latency p99 ms", "{:.2f}", "<= 0.5"),
                Metric("server_cpu_s", "server CPU s", "{:.2f}"),
                Metric("server_cpu_pct", "server CPU, % of a core", "{:.1f}"),
                GEN,
            ],
        )
    )
    for proc in ["auth.me", "messages.list"]:
        cases.append(
            Case(
                f"HTTP {proc} x10",
                "http",
                [
                    "--proc",
                    proc,
                    "--batch",
                    "10",
                    "--conns",
                    "32",
                    "--duration",
                    "3" if q else "8",
                    "--http-warmup",
                    "1" if q else "1.5",
                ],
                [
                    Metric("calls_per_s", "calls/s", "{:,.0f}", ">= 1.5"),
                    Metric("server_cpu_us_per_call", "server CPU us per call", "{:.1f}"),
                    Metric("batch_lat_p99_ms", "batch latency p99 ms", "{:.2f}"),
                    GEN,
                ],
            )
        )
    for conns in [200, 1000] if q else [1000, 10000]:
        cases.append(
            Case(
                f"idle {conns} WS",
                "idle",
                ["--conns", str(conns), "--settle", "1.5" if q else "3"],
                [
                    Metric("kib_per_conn", "RSS KiB per connection", "{:.1f}", "<= 1.0"),
                    Metric("rss_after_mb", "server RSS MiB, all open", "{:.0f}"),
                ],
                fresh_server_per_rep=True,
            )
        )
    subs = 200 if q else 1000
    cases.append(
        Case(
            f"resume storm {subs} subs",
            "resume",
            ["--subs", str(subs), "--behind", "100"],
            [
                Metric("all_caught_up_s", "time until all caught up, s", "{:.3f}"),
                Metric("catchup_p50_s", "per-subscriber catch-up p50, s", "{:.3f}"),
                Metric("server_cpu_s", "server CPU s", "{:.2f}"),
            ],
        )
    )
    return cases


def run_loadgen(case: Case, server: Server, state: str) -> dict[str, Any]:
    cmd = [
        PY,
        LOADGEN,
        case.workload,
        "--http-port",
        str(server.http_port),
        "--ws-port",
        str(server.ws_port),
        "--pid",
        str(server.pid),
        "--state",
        state,
        *case.args,
    ]
    p = subprocess.run(cmd, capture_output=True, timeout=case.timeout, stdin=subprocess.DEVNULL)
    lines = p.stdout.decode(errors="replace").strip().splitlines()
    if p.returncode != 0 or not lines:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"loadgen exit {p.returncode}: " + " | ".join(err[-4:]))
    res: dict[str, Any] = json.loads(lines[-1])
    return res


def problems(case: Case, res: dict[str, Any]) -> list[str]:
    out = []
    if res.get("complete") is False:
        out.append("incomplete (timeout)")
    for k in ("send_errors", "batches_bad", "connect_failures", "replayed_too_old"):
        if res.get(k):
            out.append(f"{k}={res[k]}")
    if (
        "expected" in res
        and res.get("deliveries") is not None
        and res["deliveries"] < res["expected"]
    ):
        out.append(f"missing {res['expected'] - res['deliveries']} deliveries")
    if "events_expected" in res and res.get("events_received") != res["events_expected"]:
        out.append(
            f"received {res.get('events_received')} of {res['events_expected']} replayed events"
        )
    if "alive" in res and res["alive"] < res["connections"]:
        out.append(f"only {res['alive']} of {res['connections']} connections alive")
    if (res.get("gen_cpu_pct") or 0) > 85:
        out.append(f"load generator at {res['gen_cpu_pct']:.0f}% CPU: may be the bottleneck")
    return out


def start_side(side: str, cases_note: str) -> Server | None:
    srv = Server(side)
    if srv.start():
        return srv
    say(f"  !! {side} did not start for {cases_note}: {srv.error}")
    tail = srv.log_tail()
    if tail:
        say(tail)
    srv.stop()
    return None


def run_case(case: Case, sides: list[str], reps: int) -> None:
    say(f"\n== {case.name}")
    reps = case.reps or reps
    sides = [s for s in sides if case.sides is None or s in case.sides]
    servers: dict[str, Server | None] = {}
    states: dict[str, str] = {}
    tmp = tempfile.mkdtemp(prefix="wcbench-state-")
    try:
        for side in sides:
            states[side] = os.path.join(tmp, f"{side}.json")
            case.results[side] = []
            case.errors[side] = []
            if not case.fresh_server_per_rep:
                servers[side] = start_side(side, case.name)
        for rep in range(reps):
            for side in sides:
                if case.fresh_server_per_rep:
                    servers[side] = start_side(side, case.name)
                    if os.path.exists(states[side]):
                        os.unlink(states[side])
                srv = servers[side]
                if srv is None:
                    case.errors[side].append("server not running")
                    continue
                if not srv.alive():
                    case.errors[side].append("server died")
                    say(f"  !! {side} server died; log tail:\n{srv.log_tail()}")
                    servers[side] = None
                    continue
                t0 = time.monotonic()
                try:
                    res = run_loadgen(case, srv, states[side])
                except Exception as e:  # report and go on
                    msg = str(e)
                    case.errors[side].append(msg)
                    say(f"  {side:8s} rep {rep + 1}: FAILED {msg}")
                    if not srv.alive():
                        say(f"  !! {side} server died; log tail:\n{srv.log_tail()}")
                    continue
                finally:
                    if case.fresh_server_per_rep:
                        srv.stop()
                case.results[side].append(res)
                shown = ", ".join(
                    f"{m.label.split(',')[0]}={m.fmt.format(res[m.key])}"
                    for m in case.metrics
                    if res.get(m.key) is not None
                )
                if res.get("limits"):
                    say(f"  {side:8s} limits: {res['limits']}")
                warn = problems(case, res)
                say(
                    f"  {side:8s} rep {rep + 1} ({time.monotonic() - t0:.0f}s): {shown}"
                    + (f"  [{'; '.join(warn)}]" if warn else "")
                )
    finally:
        for srv in servers.values():
            if srv is not None:
                srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def median_of(results: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in results if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def judge(ratio: float | None, target: str) -> str:
    if not target:
        return ""
    if ratio is None:
        return "n/a"
    op, val = target.split()
    ok = ratio <= float(val) if op == "<=" else ratio >= float(val)
    return "PASS" if ok else "FAIL"


def judge_metric(m: Metric, w: float | None, ratio: float | None) -> tuple[str, str]:
    """(target column, result column): the ratio target, else the absolute limit."""
    if m.target:
        return m.target, judge(ratio, m.target)
    if m.limit:
        return f"wirechat {m.limit}", judge(w, m.limit)
    return "", ""


def table_rows(cases: list[Case]) -> list[list[str]]:
    rows = []
    for case in cases:
        for m in case.metrics:
            w = median_of(case.results.get("wirechat", []), m.key)
            b = median_of(case.results.get("baseline", []), m.key)
            ratio = w / b if (w is not None and b not in (None, 0)) else None
            target, verdict = judge_metric(m, w, ratio)
            rows.append(
                [
                    case.name,
                    m.label,
                    "-" if w is None else m.fmt.format(w),
                    "-" if b is None else m.fmt.format(b),
                    "-" if ratio is None else f"{ratio:.2f}",
                    target,
                    verdict,
                ]
            )
    return rows


HEAD = ["workload", "metric", "wirechat", "baseline", "ratio", "target", "result"]


def format_text(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [HEAD, *rows]) for i in range(len(HEAD))]
    right = {2, 3, 4}

    def line(r: list[str]) -> str:
        return "  ".join(
            str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i])
            for i, c in enumerate(r)
        ).rstrip()

    out = [line(HEAD), line(["-" * w for w in widths])]
    last = None
    for r in rows:
        shown = list(r)
        if r[0] == last:
            shown[0] = ""
        last = r[0]
        out.append(line(shown))
    return "\n".join(out)


def format_md(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(HEAD) + " |", "|" + "|".join(["---"] * len(HEAD)) + "|"]
    for r in rows:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


def cmd_out(cmd: list[str], cwd: str | None = None) -> str:
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=30, cwd=cwd
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def environment() -> dict[str, str]:
    env: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            models = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        env["cpu"] = f"{os.cpu_count()} cores ({models[0] if models else '?'})"
    except OSError:
        env["cpu"] = f"{os.cpu_count()} cores"
    env["kernel"] = platform.release()
    env["python"] = platform.python_version()
    env["node"] = cmd_out(["node", "--version"])
    from importlib import metadata

    for pkg in ["wirechat", "picows", "uvloop", "orjson"]:
        try:
            env[f"py:{pkg}"] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            env[f"py:{pkg}"] = "not installed"
    try:
        with open(os.path.join(BASELINE_DIR, "package-lock.json")) as f:
            lock = json.load(f)["packages"]
        for pkg in [
            "@trpc/server",
            "express",
            "ws",
            "better-sqlite3",
            "zod",
            "jsonwebtoken",
            "argon2",
            "tsx",
        ]:
            env[f"npm:{pkg}"] = lock.get(f"node_modules/{pkg}", {}).get("version", "?")
    except (OSError, KeyError, ValueError):
        pass
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            env["somaxconn"] = f.read().strip()
    except OSError:
        pass
    env["nofile"] = str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    return env


def _f(v: Any, fmt: str) -> str:
    return "-" if not isinstance(v, (int, float)) else fmt.format(v)


def detail_sections(cases: list[Case]) -> list[str]:
    """Per-point tables of the connection workloads (the main table shows a few figures)."""
    out: list[str] = []
    for case in cases:
        if case.workload == "scale":
            out += [f"## {case.name}", ""]
            for side, results in case.results.items():
                for res in results:
                    out += [
                        f"**{side}**: RSS = {_f(res.get('slope_kib'), '{:.2f}')} KiB x"
                        f" connections + {_f(res.get('intercept_mb'), '{:.0f}')} MiB"
                        f" (least squares, r² = {_f(res.get('r2'), '{:.4f}')});"
                        f" RSS before {_f(res.get('rss_before_mb'), '{:.0f}')} MiB."
                        f" Limits: {res.get('limits', '?')}.",
                        "",
                        "| connections | RSS MiB | KiB per conn | server fds | received"
                        " | missing | dupes | all have it, ms | deliveries/s | p50 ms"
                        " | p99 ms | server CPU us/delivery | open s | generator KiB per conn |",
                        "|" + "---|" * 14,
                    ]
                    for p in res.get("points", []):
                        out.append(
                            f"| {p['connections']:,} | {_f(p['rss_mb'], '{:.0f}')}"
                            f" | {_f(p['kib_per_conn'], '{:.1f}')} | {p['server_fds']}"
                            f" | {p['received']:,} | {p['missing']} | {p['dupes']}"
                            f" | {_f(p['broadcast_ms'], '{:.0f}')}"
                            f" | {_f(p['deliveries_per_s'], '{:,.0f}')}"
                            f" | {_f(p['lat_p50_ms'], '{:.0f}')}"
                            f" | {_f(p['lat_p99_ms'], '{:.0f}')}"
                            f" | {_f(p['server_cpu_us_per_delivery'], '{:.1f}')}"
                            f" | {_f(p['open_s'], '{:.0f}')}"
                            f" | {_f(p.get('generator_kib_per_conn'), '{:.1f}')} |"
                        )
                    out.append("")
        elif case.workload == "churn":
            out += [f"## {case.name}", ""]
            for side, results in case.results.items():
                for res in results:
                    keys = [
                        "rss_mb",
                        "rss_back_s",
                        "fds",
                        "ws_connections",
                        "asyncio_tasks",
                        "room_listeners",
                        "presence_entries",
                        "room_channels",
                    ]
                    b = res.get("before", {})
                    out += [
                        f"**{side}**, {res.get('connections', 0):,} connections per round."
                        f" Limits: {res.get('limits', '?')}.",
                        "",
                        "| round | opened | failed | peak RSS MiB | "
                        + " | ".join(f"after: {k}" for k in keys)
                        + " |",
                        "|" + "---|" * (4 + len(keys)),
                        "| before | | | | " + " | ".join(_f(b.get(k), "{:g}") for k in keys) + " |",
                    ]
                    for r in res.get("rounds", []):
                        a = r["after"]
                        out.append(
                            f"| {r['round']} | {r['opened']:,} | {r['failed']}"
                            f" | {_f(r['peak']['rss_mb'], '{:.0f}')} | "
                            + " | ".join(
                                _f(a.get(k), "{:.0f}" if k == "rss_mb" else "{:g}") for k in keys
                            )
                            + " |"
                        )
                    out.append("")
    return out


def write_results_md(
    path: str,
    rows: list[list[str]],
    env: dict[str, str],
    argv: list[str],
    started: dt.datetime,
    reps: int,
    notes: list[str],
    cases: list[Case],
) -> None:
    lines = [
        "# wirechat benchmark results",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `{' '.join(argv)}`",
        f"- repetitions: {reps} per workload and server (median shown);"
        " ratio = wirechat / baseline",
        f"- machine: {env.get('cpu')}, Linux {env.get('kernel')},"
        f" somaxconn {env.get('somaxconn', '?')}, open files {env.get('nofile')}",
        f"- Python {env.get('python')} (picows {env.get('py:picows')},"
        f" uvloop {env.get('py:uvloop')}, orjson {env.get('py:orjson')});"
        f" wirechat {env.get('py:wirechat')}",
        f"- Node {env.get('node')}; baseline: "
        + ", ".join(f"{k[4:]} {v}" for k, v in env.items() if k.startswith("npm:")),
        "",
        format_md(rows),
        "",
    ]
    lines += detail_sections(cases)
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["## Runs", ""]
    for case in cases:
        for side, res in case.results.items():
            errs = case.errors.get(side, [])
            lines.append(
                f"- {case.name}, {side}: {len(res)} ok" + (f", errors: {errs}" if errs else "")
            )
    lines += ["", "Workload definitions and how to read the figures: `bench/README.md`.", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


# --------------------------------------------------------------------------------------------
def ensure_baseline_deps() -> str:
    """'' when the baseline can run, else the reason it cannot."""
    if shutil.which("node") is None:
        return "node is not installed"
    if os.path.isdir(os.path.join(BASELINE_DIR, "node_modules", "tsx")) and os.path.isdir(
        os.path.join(BASELINE_DIR, "node_modules", "better-sqlite3", "build", "Release")
    ):
        return ""
    if shutil.which("npm") is None:
        return "npm is not installed"
    say("baseline: node_modules missing, running `npm ci` in bench/baseline-node (a minute or two)")
    p = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=BASELINE_DIR,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if p.returncode != 0:
        return "npm ci failed: " + " | ".join((p.stderr or p.stdout).strip().splitlines()[-5:])
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description="wirechat vs Node baseline benchmark suite")
    ap.add_argument("--only", default="", help=f"comma list of {','.join(WORKLOAD_NAMES)}")
    ap.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    ap.add_argument(
        "--servers", default="wirechat,baseline", help="comma list of wirechat,baseline"
    )
    ap.add_argument("--reps", type=int, default=3, help="repetitions per workload (median)")
    ap.add_argument(
        "--connections",
        default="",
        help="connection scaling sizes, e.g. 2000,10000,50000,100000 (default 2k,5k,10k,19k)",
    )
    ap.add_argument("--results", default=os.path.join(BENCH, "RESULTS.md"), help="markdown output")
    args = ap.parse_args()

    only = [w.strip() for w in args.only.split(",") if w.strip()] or WORKLOAD_NAMES
    bad = [w for w in only if w not in WORKLOAD_NAMES]
    sides = [s.strip() for s in args.servers.split(",") if s.strip()]
    if bad or any(s not in SIDES for s in sides) or not sides:
        ap.error(f"workloads: {WORKLOAD_NAMES}; servers: {SIDES}")
    started = dt.datetime.now(dt.UTC)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1 << 20), hard))

    notes: list[str] = []
    wc = wirechat_cmd()[0]
    if "wirechat" in sides and not (os.access(wc, os.X_OK) or shutil.which(wc)):
        msg = (
            f"wirechat is not available: {wc} is missing (install the project into .venv);"
            " its columns stay empty and the baseline runs alone"
        )
        say("!! " + msg)
        notes.append(msg)
        sides.remove("wirechat")
    if "baseline" in sides:
        why = ensure_baseline_deps()
        if why:
            say("!! baseline cannot run: " + why)
            notes.append("baseline cannot run: " + why)
            sides.remove("baseline")
    if not sides:
        say("nothing to run")
        return 1
    # probe that each side starts at all, so a broken server is reported once, clearly
    for side in list(sides):
        srv = Server(side)
        if not srv.start():
            msg = f"{side} failed to start: {srv.error}"
            say("!! " + msg)
            tail = srv.log_tail()
            if tail:
                say(tail)
            notes.append(msg)
            sides.remove(side)
        srv.stop()
    if not sides:
        say("nothing to run")
        return 1
    # baseline first within each repetition, then wirechat
    sides.sort(key=lambda s: 0 if s == "baseline" else 1)

    sizes = [int(x) for x in args.connections.split(",") if x.strip()] or None
    cases = [c for c in build_cases(args.quick, sizes) if c.workload in only]
    say(
        f"servers: {', '.join(sides)}; workloads: {', '.join(c.name for c in cases)}; "
        f"{args.reps} repetitions{' (quick)' if args.quick else ''}"
    )
    t0 = time.monotonic()
    for case in cases:
        run_case(case, sides, args.reps)

    rows = table_rows(cases)
    for case in cases:
        for side, lst in case.results.items():
            worst = max((r.get("gen_cpu_pct") or 0 for r in lst), default=0)
            if worst > 85:
                notes.append(
                    f"{case.name} ({side}): load generator reached {worst:.0f}% of a core;"
                    " the figure may be generator-bound"
                )
    say("\n" + format_text(rows))
    for line in detail_sections(cases):
        say(line)
    for n in notes:
        say("note: " + n)
    say(f"\ntotal {time.monotonic() - t0:.0f}s")

    env = environment()
    argv = [os.path.relpath(PY, ROOT) if PY.startswith(ROOT) else PY, "bench/run.py", *sys.argv[1:]]
    write_results_md(args.results, rows, env, argv, started, args.reps, notes, cases)
    raw_dir = os.path.join(BENCH, "results")
    os.makedirs(raw_dir, exist_ok=True)
    raw_path = os.path.join(raw_dir, started.strftime("%Y%m%dT%H%M%SZ") + ".json")
    with open(raw_path, "w") as f:
        json.dump(
            {
                "argv": argv,
                "env": env,
                "notes": notes,
                "cases": [
                    {
                        "name": c.name,
                        "workload": c.workload,
                        "args": c.args,
                        "results": c.results,
                        "errors": c.errors,
                    }
                    for c in cases
                ],
            },
            f,
            indent=1,
        )
    say(f"wrote {os.path.relpath(args.results, ROOT)} and {os.path.relpath(raw_path, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
