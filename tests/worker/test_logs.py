"""Passwords never reach the worker's logs, even when a service refuses them."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from ga4clone.settings import Settings
from tests.conftest import wait_for
from tests.worker.test_consumer import RunningWorker, message, publish

pytestmark = pytest.mark.integration

# Appears nowhere but in the settings under test.
PASSWORD = f"pw-{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    ("refused", "logged"),
    [
        ({"rabbitmq_password": PASSWORD}, "RabbitMQ connection lost"),
        # ClickHouse's default user has no password: any other is wrong.
        ({"clickhouse_password": PASSWORD}, "ClickHouse insert failed"),
        # PostgreSQL trusts local connections, so a user that does not exist
        # is what makes it refuse the password it is given.
        (
            {"postgres_user": "ga4clone_nobody", "postgres_password": PASSWORD},
            "PostgreSQL transaction failed",
        ),
    ],
)
def test_refused_credentials_are_logged_without_the_password(
    fast: Settings,
    channel: Any,
    caplog: pytest.LogCaptureFixture,
    refused: dict[str, str],
    logged: str,
) -> None:
    # Given a worker that a service refuses with the credentials it was given,
    wrong = fast.model_copy(update=refused)
    caplog.set_level(logging.DEBUG)

    # when it tries to take and store a message, and retries,
    with RunningWorker(wrong):
        publish(channel, wrong, message(uuid.uuid4(), 1), str(uuid.uuid4()))
        wait_for(lambda: any(logged in text for text in caplog.messages))

    # then the failure is logged, and nothing logged holds the password.
    assert PASSWORD not in caplog.text
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert PASSWORD not in (record.exc_text or "")
