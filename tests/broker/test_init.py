"""The public face of ``wirechat.broker``: exports, backend choice, lazy redis import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import wirechat.broker
from wirechat.broker import MemoryBroker, create_broker

from .conftest import other_tasks

MODULES = ["base", "errors", "memory", "redis", "subscription"]


def test_importing_the_package_does_not_import_redis() -> None:
    code = "import sys, wirechat.broker; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_exported_names_are_exactly_the_public_api() -> None:
    assert set(wirechat.broker.__all__) == {
        "DEFAULT_CAPACITY",
        "Broker",
        "BrokerClosed",
        "BrokerError",
        "BrokerReset",
        "BrokerUnavailable",
        "MemoryBroker",
        "RedisBroker",
        "SubscriberOverflow",
        "Subscription",
        "SubscriptionLost",
        "create_broker",
    }
    for name in wirechat.broker.__all__:
        assert getattr(wirechat.broker, name) is not None


@pytest.mark.parametrize("module", MODULES)
def test_every_module_declares_its_exports(module: str) -> None:
    loaded = importlib.import_module(f"wirechat.broker.{module}")
    for name in loaded.__all__:
        assert hasattr(loaded, name)


async def test_no_url_gives_the_in_process_broker() -> None:
    broker = create_broker(None, capacity=5)
    assert isinstance(broker, MemoryBroker)
    await broker.aclose()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://user:pw@example:6380/1"])
async def test_redis_url_gives_a_redis_broker_without_connecting(url: str) -> None:
    from wirechat.broker.redis import RedisBroker

    broker = create_broker(url)
    assert isinstance(broker, RedisBroker)
    assert other_tasks() == set()
    await broker.aclose()


def test_other_url_schemes_are_rejected_without_echoing_secrets() -> None:
    with pytest.raises(ValueError, match="REDIS_URL") as excinfo:
        create_broker("http://user:s3cret@example")
    assert "s3cret" not in str(excinfo.value)
