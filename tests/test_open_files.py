"""wirechat serve raises its soft open-files limit to the hard one (each connection is a file)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import logging, resource
from wirechat.server import raise_open_files_limit
logging.basicConfig(level=logging.INFO, format="%(message)s")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
low = 256 if hard == resource.RLIM_INFINITY else min(256, hard)
resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
now = raise_open_files_limit()
print(now, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)
"""


def test_the_soft_limit_is_raised_to_the_hard_limit_and_both_are_logged() -> None:
    # In a child process: the test process keeps its own limits.
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    returned, soft, hard = (int(x) for x in result.stdout.split())
    unlimited = hard == -1  # RLIM_INFINITY: raised to the kernel's usual nr_open instead
    assert soft == returned == (1 << 20 if unlimited else hard)
    low = 256 if unlimited else min(256, hard)
    assert f"open files limit: {returned} (was {low}, hard limit" in result.stderr
