"""Fixtures of the worker tests: quick flushes and a channel on the test's queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ga4clone.settings import Settings
from ga4clone.topology import Topology, declare


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """The test's settings with batches flushed every 100 ms."""
    return settings.model_copy(update={"worker_flush_interval_ms": 100})


@pytest.fixture
def channel(fast: Settings, amqp: Any) -> Iterator[Any]:
    """A confirming channel on which the test's topology is declared."""
    declare(amqp, Topology.from_settings(fast))
    amqp.confirm_delivery()
    yield amqp
