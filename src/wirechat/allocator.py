"""The C allocator under the server's Python objects.

CPython's small-object allocator (pymalloc) takes memory from the C heap in 1 MiB
arenas and gives an arena back only when every object in it is gone. A chat server's
memory rises and falls with its connections: after a wave of 10,000 disconnects, the
few hundred objects that outlive the wave (the event loop's free lists of handles,
asyncio's free list of future iterators, cache entries) are spread over the arenas
the wave filled, and each pins its whole arena.
RSS then stays near the peak of the largest wave (docs/capacity.md "After a wave of
disconnects"). With ``PYTHONMALLOC=malloc`` every object comes from glibc's malloc
instead, and ``malloc_trim`` (run after a wave, ``rpc/ws/memory.py``) returns free
memory page by page, so an object that outlives a wave pins 4 KiB, not 1 MiB.

glibc's own thresholds are fixed too (``GLIBC_TUNABLES``). By default glibc raises
its mmap threshold to the size of the largest block it has unmapped (up to 32 MiB):
after the first Argon2 hash of a few MiB, every later hash buffer comes from the heap
and its pages stay resident after it is freed. With the threshold fixed at 1 MiB such
buffers are mapped and unmapped each time; and the heap is trimmed on its own only when
16 MiB lie free at its top, so a burst of allocations does not move the break up and
down, while ``malloc_trim`` after a wave still returns everything free.

Both variables are read once, when the process starts, so ``wirechat serve`` executes
itself again with them set. An explicit ``PYTHONMALLOC`` (any value: ``pymalloc`` to
keep CPython's default, ``debug`` while debugging) leaves everything as it is, an
explicit ``GLIBC_TUNABLES`` is kept as it is, and a C library other than glibc (no
``malloc_trim``) changes nothing.
"""

from __future__ import annotations

import os
import platform
import sys

__all__ = ["ALLOCATOR_VARIABLE", "GLIBC_TUNABLES", "describe_allocator", "use_malloc"]

ALLOCATOR_VARIABLE = "PYTHONMALLOC"
TUNABLES_VARIABLE = "GLIBC_TUNABLES"
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=16777216"
"""Measured in docs/capacity.md "Which allocator" (and in bench/RESULTS.md)."""


def _wanted(environ: dict[str, str] | os._Environ[str]) -> bool:
    if ALLOCATOR_VARIABLE in environ:
        return False
    return sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


def use_malloc() -> None:
    """Replace this process by the same command under ``PYTHONMALLOC=malloc`` (and
    :data:`GLIBC_TUNABLES` unless that variable is set).

    Returns only when nothing needs to change. ``os.execv`` keeps the process id, so a
    supervisor (systemd, a container runtime, a test) still holds the right process;
    it must run before the server opens any socket or file it would otherwise leak
    into the new image (Python opens them close-on-exec, but nothing is open yet).
    """
    if not _wanted(os.environ) or not sys.executable:
        return
    os.environ[ALLOCATOR_VARIABLE] = "malloc"
    os.environ.setdefault(TUNABLES_VARIABLE, GLIBC_TUNABLES)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        # sys.orig_argv is the interpreter's own command line, with its options
        # (``python -X dev -m wirechat serve``), so the new image starts the same way.
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    except OSError:
        # Serving under pymalloc beats not serving; the start-up log names the allocator.
        del os.environ[ALLOCATOR_VARIABLE]
        if os.environ.get(TUNABLES_VARIABLE) == GLIBC_TUNABLES:
            del os.environ[TUNABLES_VARIABLE]


def describe_allocator() -> str:
    """The allocator variables this process started with, for the start-up log."""
    return " ".join(
        f"{name}={os.environ.get(name, '(unset)')}"
        for name in (ALLOCATOR_VARIABLE, TUNABLES_VARIABLE)
    )
