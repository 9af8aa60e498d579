"""Nothing lost, nothing counted twice: the pipeline under crashes and outages.

Each scenario streams batches through the real processes, breaks one thing
mid-stream, repairs it, and checks the stores against the acknowledged ids.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pika
import pytest

from ga4clone.settings import Settings
from ga4clone.topology import ERROR_HEADER, ROUTING_KEY
from tests.conftest import ROOT, make_event, wait_for
from tests.fault.conftest import (
    BROWSER,
    Pipeline,
    Service,
    Stream,
    assert_exactly_once,
)
from tests.test_dlq import inspected_reasons

pytestmark = [pytest.mark.integration, pytest.mark.fault]

OUTAGE_S = 30
POISON_IDS = ("poison-0", "poison-1", "poison-2")
# What the worker says of a body whose "events" is not a list.
POISON_REASON = "events: Input should be a valid array"


def test_a_killed_worker_loses_nothing_after_restart(
    pipeline: Pipeline, settings: Settings
) -> None:
    with Stream(pipeline) as stream:
        time.sleep(3)
        pipeline.worker.popen.send_signal(signal.SIGKILL)
        pipeline.worker.wait()
        time.sleep(2)
        pipeline.worker.restart()
        time.sleep(3)

    assert_exactly_once(stream, settings)


def test_rabbitmq_outage_gives_503_then_both_processes_recover(
    pipeline: Pipeline, settings: Settings, rabbitmq: Service
) -> None:
    with Stream(pipeline) as stream:
        time.sleep(2)
        rabbitmq.stop()
        wait_for(lambda: not pipeline.ready(), timeout_s=15)
        during = _post_one(pipeline, stream)
        time.sleep(3)
        rabbitmq.start()
        wait_for(pipeline.ready, timeout_s=60)
        after = _post_one(pipeline, stream)
        time.sleep(3)

    assert during.status_code == 503
    assert int(during.headers["Retry-After"]) >= 1
    assert after.status_code == 202
    assert 503 in stream.statuses
    assert pipeline.api.popen.poll() is None
    assert pipeline.worker.popen.poll() is None, pipeline.worker.output()
    assert_exactly_once(stream, settings)


def test_clickhouse_outage_delays_but_loses_nothing(
    pipeline: Pipeline, settings: Settings, clickhouse_service: Service
) -> None:
    with Stream(pipeline) as stream:
        time.sleep(2)
        clickhouse_service.stop()
        time.sleep(OUTAGE_S)
        clickhouse_service.start()
        time.sleep(2)

    assert pipeline.worker.popen.poll() is None, pipeline.worker.output()
    assert_exactly_once(stream, settings)


def test_postgres_outage_delays_but_loses_nothing(
    pipeline: Pipeline, settings: Settings, postgres_service: Service
) -> None:
    with Stream(pipeline) as stream:
        time.sleep(2)
        postgres_service.stop()
        time.sleep(OUTAGE_S)
        postgres_service.start()
        time.sleep(2)

    assert pipeline.api.popen.poll() is None, pipeline.api.output()
    assert pipeline.worker.popen.poll() is None, pipeline.worker.output()
    assert_exactly_once(stream, settings)


def test_poison_messages_are_dead_lettered_inspected_and_replayed(
    pipeline: Pipeline, settings: Settings, amqp: Any
) -> None:
    # Given poison published in the middle of a good stream
    with Stream(pipeline) as stream:
        time.sleep(1)
        for message_id in POISON_IDS:
            amqp.basic_publish(
                settings.rabbitmq_exchange,
                ROUTING_KEY,
                b'{"events": "not a list"}',
                pika.BasicProperties(message_id=message_id, delivery_mode=2),
            )
        time.sleep(2)

    # Then the good events are stored and the poison waits with its reason,
    # read from the reason column (the body's preview says "not a list" too).
    assert_exactly_once(stream, settings)
    wait_for(lambda: _dead_letters(settings).count("poison-") == 3)
    reasons = inspected_reasons(_dead_letters(settings))
    poison = {name: reasons.get(name, "") for name in POISON_IDS}
    assert all(POISON_REASON in reason for reason in poison.values()), poison
    # When they are replayed, they travel the queue again and die again
    replayed = _ga4clone(settings, "dlq", "replay")
    assert "3 dead letters replayed" in replayed
    wait_for(lambda: _dead_letters(settings).count("poison-") == 3)
    method, properties, _body = amqp.basic_get(
        settings.rabbitmq_dead_letter_queue, auto_ack=False
    )
    assert properties.headers["x-ga4clone-replays"] == 1
    assert properties.headers[ERROR_HEADER]
    amqp.basic_nack(method.delivery_tag, requeue=True)


def test_sigterm_stops_both_processes_cleanly_and_loses_nothing(
    pipeline: Pipeline, settings: Settings
) -> None:
    with Stream(pipeline) as stream:
        time.sleep(3)
        pipeline.api.popen.send_signal(signal.SIGTERM)
        pipeline.worker.popen.send_signal(signal.SIGTERM)
        api_code, worker_code = pipeline.api.wait(), pipeline.worker.wait()
        pipeline.api.restart()
        pipeline.worker.restart()
        wait_for(pipeline.ready, timeout_s=20)
        time.sleep(2)

    assert api_code == 0, pipeline.api.output()
    assert worker_code == 0, pipeline.worker.output()
    assert_exactly_once(stream, settings)


def _post_one(pipeline: Pipeline, stream: Stream) -> httpx.Response:
    """Post one valid event beside the stream, in the stream's accounting."""
    event = make_event(pipeline.project.id, eventId=str(uuid.uuid4()))
    event_id = event["eventId"]
    # A 503 may still have reached the queue (a confirm that came too late).
    stream.track(event)
    answer = httpx.post(
        f"{pipeline.base}/events",
        json=event,
        headers={"X-Api-Key": pipeline.project.write_key, "User-Agent": BROWSER},
    )
    if answer.status_code == 202:
        stream.acked.add(event_id)
        stream.unsure.discard(event_id)
    return answer


def _dead_letters(settings: Settings) -> str:
    return _ga4clone(settings, "dlq", "inspect")


def _ga4clone(settings: Settings, *args: str) -> str:
    from tests.test_e2e import environment

    return subprocess.run(
        [sys.executable, "-m", "ga4clone", *args],
        env=environment(settings, 8080),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
