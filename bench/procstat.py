"""Process accounting from /proc: CPU seconds (utime+stime) and resident memory of a tree."""

from __future__ import annotations

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode()
    except OSError:
        return None
    # the command name (field 2) may contain spaces: split after the last ')'
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest  # rest[0] is field 3 (state)


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        f = _stat_fields(int(name))
        if f is None:
            continue
        kids.setdefault(int(f[1]), []).append(int(name))
    return kids


def tree(pid: int) -> list[int]:
    """pid and all its live descendants."""
    kids = children_map()
    out, todo = [], [pid]
    for _ in range(10_000):  # bounded walk
        if not todo:
            break
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def cpu_seconds(pid: int, include_children: bool = True) -> float:
    """utime+stime of one process (plus its waited-for children's) in seconds."""
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    # fields 14..17 = utime stime cutime cstime -> indexes 11..14 in `rest`
    ticks = int(f[11]) + int(f[12])
    if include_children:
        ticks += int(f[13]) + int(f[14])
    return ticks / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in tree(pid))


def self_cpu_seconds() -> float:
    return cpu_seconds(os.getpid(), include_children=False)


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss_bytes(pid: int) -> int:
    return sum(rss_bytes(p) for p in tree(pid))


class CpuWindow:
    """CPU used by a server tree and by this process between start() and stop()."""

    def __init__(self, server_pids: list[int]):
        self.server_pids = server_pids
        self.server = 0.0
        self.gen = 0.0

    def start(self) -> None:
        self._s0 = sum(tree_cpu_seconds(p) for p in self.server_pids)
        self._g0 = self_cpu_seconds()

    def stop(self) -> None:
        self.server = sum(tree_cpu_seconds(p) for p in self.server_pids) - self._s0
        self.gen = self_cpu_seconds() - self._g0
