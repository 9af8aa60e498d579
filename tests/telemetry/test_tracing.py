"""The tracer provider ga4clone installs: its sampler and its link limit."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    set_span_in_context,
)

from ga4clone.telemetry.tracing import LinkedSampler, tracer_provider

_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


def _context(*, sampled: bool, span_id: int = 0xB7AD6B7169203331) -> SpanContext:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return SpanContext(_TRACE_ID, span_id, is_remote=True, trace_flags=flags)


def _decision(links: list[Link], parent: SpanContext | None = None) -> Decision:
    sampler = LinkedSampler(ALWAYS_OFF)
    parent_context = None
    if parent is not None:
        parent_context = set_span_in_context(NonRecordingSpan(parent))
    result = sampler.should_sample(parent_context, 1, "process", links=links)
    return result.decision


def test_root_span_linked_to_a_sampled_producer_is_sampled() -> None:
    links = [Link(_context(sampled=False)), Link(_context(sampled=True, span_id=7))]

    assert _decision(links) is Decision.RECORD_AND_SAMPLE


def test_root_span_without_a_sampled_link_gets_the_base_decision() -> None:
    assert _decision([Link(_context(sampled=False))]) is Decision.DROP
    assert _decision([]) is Decision.DROP


def test_span_with_a_parent_gets_the_base_decision_whatever_it_links_to() -> None:
    links = [Link(_context(sampled=True))]

    assert _decision(links, parent=_context(sampled=False, span_id=9)) is (
        Decision.DROP
    )


def test_provider_keeps_as_many_links_as_asked_beyond_the_sdk_default() -> None:
    # Given a provider asked to keep 300 links (the SDK keeps 128 by default),
    provider = tracer_provider("ga4clone-test", max_links=300)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    links = [Link(_context(sampled=True, span_id=i + 1)) for i in range(300)]

    # when a root span links to 300 sampled producers,
    provider.get_tracer("test").start_span("process", links=links).end()

    # then it is sampled, although no parent says so, and keeps every link.
    [finished] = exporter.get_finished_spans()
    assert len(finished.links) == 300
    provider.shutdown()


def test_provider_never_lowers_the_sdk_link_limit() -> None:
    provider = tracer_provider("ga4clone-test", max_links=10)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    links = [Link(_context(sampled=True, span_id=i + 1)) for i in range(50)]

    provider.get_tracer("test").start_span("process", links=links).end()

    [finished] = exporter.get_finished_spans()
    assert len(finished.links) == 50
    provider.shutdown()
