"""The C allocator under the server's Python objects.

CPython's small-object allocator (pymalloc) takes memory from the C heap in 1 MiB
arenas and gives an arena back only when every object in it is gone. A chat server's
memory rises and falls with its connections: after a wave of 10,000 disconnects, the
few objects that outlive the wave (a cache entry, a dict that grew, a log record's
string) are spread over the arenas the wave filled, and each pins its whole arena.
RSS then stays near the peak of the largest wave (docs/capacity.md "After a wave of
disconnects"). With ``PYTHONMALLOC=malloc`` every object comes from glibc's malloc
instead, and ``malloc_trim`` (run after a wave, ``rpc/ws/memory.py``) returns free
memory page by page, so an object that outlives a wave pins 4 KiB, not 1 MiB.

``PYTHONMALLOC`` is read once, when the interpreter starts, so ``wirechat serve``
executes itself again with it set. An explicit ``PYTHONMALLOC`` (any value:
``pymalloc`` to keep CPython's default, ``debug`` while debugging) is left as it is,
and so is every platform whose C library is not glibc (no ``malloc_trim`` there).
"""

from __future__ import annotations

import os
import platform
import sys

__all__ = ["ALLOCATOR_VARIABLE", "use_malloc"]

ALLOCATOR_VARIABLE = "PYTHONMALLOC"


def _wanted(environ: dict[str, str] | os._Environ[str]) -> bool:
    if ALLOCATOR_VARIABLE in environ:
        return False
    return sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


def use_malloc() -> None:
    """Replace this process by the same command under ``PYTHONMALLOC=malloc``.

    Returns only when nothing needs to change. ``os.execv`` keeps the process id, so a
    supervisor (systemd, a container runtime, a test) still holds the right process;
    it must run before the server opens any socket or file it would otherwise leak
    into the new image (Python opens them close-on-exec, but nothing is open yet).
    """
    if not _wanted(os.environ) or not sys.executable:
        return
    os.environ[ALLOCATOR_VARIABLE] = "malloc"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        # sys.orig_argv is the interpreter's own command line, with its options
        # (``python -X dev -m wirechat serve``), so the new image starts the same way.
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    except OSError:
        # Serving under pymalloc beats not serving; the start-up log names the allocator.
        del os.environ[ALLOCATOR_VARIABLE]
