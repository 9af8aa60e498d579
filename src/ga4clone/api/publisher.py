"""Publish event messages to RabbitMQ from the API's event loop, with confirms.

The publisher runs pika's asyncio adapter on the loop uvicorn already runs, so
publishing never blocks a request. Every message is persistent and mandatory,
and the channel is in confirm mode: :meth:`Publisher.publish` returns only once
RabbitMQ has confirmed the message, so many requests in flight share one
stream of (multiple) acks instead of waiting for one round trip each.

A background task keeps the connection up: when RabbitMQ goes away, every
message waiting for a confirm fails with :class:`BrokerUnavailable` and the
task reconnects with backoff, redeclaring the topology.

Each publish is timed (``ga4clone_publish_duration_seconds``) and, while
tracing is on, carries the W3C trace context in its AMQP headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import pika
from opentelemetry.trace import SpanKind
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.spec import Basic

from ga4clone.errors import BrokerUnavailable, PublishNotConfirmed
from ga4clone.settings import Settings
from ga4clone.telemetry.metrics import observe_publish
from ga4clone.telemetry.tracing import active_tracer, inject, span
from ga4clone.topology import (
    NOT_FOUND,
    ROUTING_KEY,
    Topology,
    broker_version,
    declarations,
)

log = logging.getLogger(__name__)

_DECLARE_TIMEOUT_S = 10.0
_RECONNECT_MIN_S = 0.5
_RECONNECT_MAX_S = 10.0


def _with_callback(
    channel: Any, method: str, kwargs: dict[str, Any], done: Callable[..., None]
) -> None:
    getattr(channel, method)(**kwargs, callback=done)


def connection_parameters(settings: Settings) -> pika.ConnectionParameters:
    """The AMQP connection parameters of the configured broker."""
    return pika.ConnectionParameters(
        host=settings.rabbitmq_host,
        port=settings.rabbitmq_port,
        virtual_host=settings.rabbitmq_vhost,
        credentials=pika.PlainCredentials(
            settings.rabbitmq_user, settings.rabbitmq_password
        ),
        connection_attempts=1,
        socket_timeout=5,
        blocked_connection_timeout=60,
    )


class _Pending:
    """A published message waiting for its confirm."""

    __slots__ = ("future", "message_id", "returned")

    def __init__(self, future: asyncio.Future[None], message_id: str) -> None:
        self.future = future
        self.message_id = message_id
        self.returned = False


class Publisher:
    """Confirmed, persistent publishing of event messages on an asyncio loop."""

    def __init__(self, settings: Settings) -> None:
        self._parameters = connection_parameters(settings)
        self._topology = Topology.from_settings(settings)
        self._confirm_timeout_s = settings.publish_confirm_timeout_ms / 1000
        self._connection: AsyncioConnection | None = None
        self._channel: Any = None
        self._ready = False
        self._closing = False
        self._next_tag = 0
        self._pending: dict[int, _Pending] = {}
        self._by_message_id: dict[str, _Pending] = {}
        self._lost: asyncio.Event | None = None
        self._first_try = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Whether a channel is open, in confirm mode, with the topology declared."""
        return self._ready

    async def start(self, wait_s: float = 5.0) -> None:
        """Start connecting in the background; wait (bounded) for the first try."""
        self._lost = asyncio.Event()
        self._first_try = asyncio.Event()
        self._task = asyncio.create_task(self._keep_connected())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_try.wait(), wait_s)
        if not self._ready:
            log.warning("RabbitMQ is not reachable yet; retrying in the background")

    async def publish(self, body: bytes, message_id: str) -> None:
        """Publish one message and wait for RabbitMQ's confirm.

        While tracing is on the publish is a PRODUCER span, child of the
        request's span, whose context travels in the message headers.

        Raises:
            BrokerUnavailable: there is no open channel, or it closed meanwhile.
            PublishNotConfirmed: RabbitMQ nacked or returned the message, or did
                not confirm it within the configured timeout.
        """
        started = time.perf_counter()
        confirmed = False
        try:
            if active_tracer() is None:
                await self._publish(body, message_id, None)
            else:
                await self._publish_traced(body, message_id)
            confirmed = True
        finally:
            observe_publish(time.perf_counter() - started, confirmed=confirmed)

    async def _publish_traced(self, body: bytes, message_id: str) -> None:
        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.destination.name": self._topology.exchange,
            "messaging.rabbitmq.destination.routing_key": ROUTING_KEY,
            "messaging.message.id": message_id,
            "messaging.message.body.size": len(body),
        }
        with span(
            f"publish {self._topology.exchange}", SpanKind.PRODUCER, attributes
        ) as current:
            await self._publish(body, message_id, inject({}))
            if current is not None:
                current.add_event("confirmed")

    async def _publish(
        self, body: bytes, message_id: str, headers: dict[str, Any] | None
    ) -> None:
        if not self._ready or self._channel is None:
            raise BrokerUnavailable("no open channel to RabbitMQ")
        pending = _Pending(asyncio.get_running_loop().create_future(), message_id)
        self._next_tag += 1
        tag = self._next_tag
        self._pending[tag] = pending
        self._by_message_id[message_id] = pending
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message_id,
            timestamp=int(time.time()),
            app_id="ga4clone-api",
            headers=headers,
        )
        try:
            self._channel.basic_publish(
                self._topology.exchange, ROUTING_KEY, body, properties, mandatory=True
            )
            await asyncio.wait_for(
                asyncio.shield(pending.future), self._confirm_timeout_s
            )
        except TimeoutError as exc:
            raise PublishNotConfirmed(
                f"no confirm within {self._confirm_timeout_s:.1f} s"
            ) from exc
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"publish failed: {exc!r}") from exc
        finally:
            self._pending.pop(tag, None)
            self._by_message_id.pop(message_id, None)

    async def close(self) -> None:
        """Wait for outstanding confirms (bounded), then close the connection."""
        self._closing = True
        deadline = time.monotonic() + self._confirm_timeout_s
        while self._pending and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._ready = False
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        if self._lost is not None:
            self._lost.set()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=5)

    # --- connection lifecycle ------------------------------------------------

    async def _keep_connected(self) -> None:
        assert self._lost is not None
        delay_s = _RECONNECT_MIN_S
        while not self._closing:
            self._lost.clear()
            try:
                await self._open()
            except Exception as exc:
                log.warning("Connecting to RabbitMQ failed: %r", exc)
                self._forget_connection(BrokerUnavailable("connection failed"))
                self._first_try.set()
            else:
                self._first_try.set()
                delay_s = _RECONNECT_MIN_S
                log.info("Publishing to RabbitMQ at %s", self._parameters.host)
                await self._lost.wait()
            if self._closing:
                break
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, _RECONNECT_MAX_S)

    async def _open(self) -> None:
        try:
            await self._open_channel()
        except BaseException:
            # A connection that timed out half-way would otherwise linger and
            # report its close later, as if the next connection had closed.
            self._abandon(self._connection)
            raise

    @staticmethod
    def _abandon(connection: AsyncioConnection | None) -> None:
        if connection is None or connection.is_closed or connection.is_closing:
            return
        with contextlib.suppress(pika.exceptions.AMQPError):
            connection.close()

    async def _open_channel(self) -> None:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()

        def on_open(conn: Any) -> None:
            if not opened.done():
                opened.set_result(conn)

        def on_open_error(_conn: Any, error: Any) -> None:
            if not opened.done():
                opened.set_exception(BrokerUnavailable(repr(error)))

        self._connection = AsyncioConnection(
            self._parameters,
            on_open_callback=on_open,
            on_open_error_callback=on_open_error,
            on_close_callback=self._on_connection_closed,
            custom_ioloop=loop,
        )
        await asyncio.wait_for(opened, _DECLARE_TIMEOUT_S)

        (channel,) = await self._call(
            lambda done: self._connection.channel(on_open_callback=done)  # type: ignore[union-attr]
        )
        channel.add_on_close_callback(
            functools.partial(self._on_channel_closed, self._connection)
        )
        channel.add_on_return_callback(self._on_return)
        await self._declare(channel)
        await self._call(
            lambda done: channel.confirm_delivery(
                ack_nack_callback=self._on_confirm, callback=done
            )
        )
        self._channel = channel
        self._next_tag = 0
        self._ready = True

    async def _declare(self, channel: Any) -> None:
        assert self._connection is not None
        broker = broker_version(self._connection.server_properties)
        exists = await self._queue_exists(self._topology.dead_letter_queue)
        calls = declarations(self._topology, broker, dead_letter_queue_exists=exists)
        for method, kwargs in calls:
            await self._call(functools.partial(_with_callback, channel, method, kwargs))

    async def _queue_exists(self, queue: str) -> bool:
        """Whether ``queue`` exists, asked on a channel of its own (404 closes it)."""
        connection = self._connection
        assert connection is not None
        (probe,) = await self._call(
            lambda done: connection.channel(on_open_callback=done)
        )
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def on_declared(_frame: Any) -> None:
            if not answer.done():
                answer.set_result(True)

        def on_closed(_channel: Any, reason: Exception) -> None:
            if answer.done():
                return
            if (
                isinstance(reason, pika.exceptions.ChannelClosedByBroker)
                and reason.reply_code == NOT_FOUND
            ):
                answer.set_result(False)
            else:
                answer.set_exception(BrokerUnavailable(f"probe closed: {reason!r}"))

        probe.add_on_close_callback(on_closed)
        probe.queue_declare(queue, passive=True, callback=on_declared)
        try:
            return await asyncio.wait_for(answer, _DECLARE_TIMEOUT_S)
        finally:
            if probe.is_open:
                probe.close()

    @staticmethod
    async def _call(start: Callable[[Callable[..., None]], Any]) -> tuple[Any, ...]:
        """Run one callback-style pika operation and await its completion."""
        future: asyncio.Future[tuple[Any, ...]] = (
            asyncio.get_running_loop().create_future()
        )

        def done(*args: Any) -> None:
            if not future.done():
                future.set_result(args)

        start(done)
        return await asyncio.wait_for(future, _DECLARE_TIMEOUT_S)

    def _on_connection_closed(self, connection: Any, reason: Exception) -> None:
        if connection is not self._connection:
            return  # an abandoned connection; the current one is fine
        if not self._closing:
            log.warning("RabbitMQ connection closed: %r", reason)
        self._forget_connection(BrokerUnavailable(f"connection closed: {reason!r}"))

    def _on_channel_closed(
        self, connection: Any, _channel: Any, reason: Exception
    ) -> None:
        if connection is not self._connection:
            return
        if not self._closing:
            log.warning("RabbitMQ channel closed: %r", reason)
        self._forget_connection(BrokerUnavailable(f"channel closed: {reason!r}"))
        if self._connection is not None and self._connection.is_open:
            self._connection.close()

    def _forget_connection(self, error: Exception) -> None:
        self._ready = False
        self._channel = None
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        if self._lost is not None:
            self._lost.set()

    # --- confirms --------------------------------------------------------------

    def _on_return(
        self, _channel: Any, _method: Any, properties: Any, _body: Any
    ) -> None:
        # RabbitMQ sends basic.return before the ack of an unroutable message.
        pending = self._by_message_id.get(properties.message_id)
        if pending is not None:
            pending.returned = True

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, Basic.Ack)
        tags = (
            [tag for tag in self._pending if tag <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in tags:
            pending = self._pending.get(tag)
            if pending is None or pending.future.done():
                continue
            if not acked:
                pending.future.set_exception(PublishNotConfirmed("RabbitMQ nacked"))
            elif pending.returned:
                pending.future.set_exception(PublishNotConfirmed("message unroutable"))
            else:
                pending.future.set_result(None)
