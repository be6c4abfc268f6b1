"""Latency probes for the abuse tests: samples of ``/health`` and the 99th percentile.

The machine the tests run on is shared and noisy, so each attack test also measures
the same probe with no attack running, just before it. The budget of the issue
(e.g. 100 ms at p99) must hold, unless the quiet machine itself already misses it: then
the attack may not make it worse than twice the quiet figure.
"""

from __future__ import annotations

import asyncio
import time

import httpx

__all__ = ["allowed", "p99", "sample_health"]


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def allowed(budget: float, quiet: float) -> float:
    """The bound an attack's figure must stay under: ``budget``, or twice the figure of
    the quiet machine when that alone is already over half the budget."""
    return max(budget, 2 * quiet)


async def sample_health(client: httpx.AsyncClient, base_url: str, seconds: float) -> list[float]:
    """Response times of ``GET /health``, one request every 20 ms for ``seconds``."""
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = await client.get(f"{base_url}/health")
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200
        await asyncio.sleep(0.02)
    return samples
