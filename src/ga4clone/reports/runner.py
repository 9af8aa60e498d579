"""Run a compiled report on an engine and shape the answer as GA4 does."""

from __future__ import annotations

import math
from typing import Any

from ga4clone.reports import catalog
from ga4clone.reports.catalog import Metric, MetricType
from ga4clone.reports.engines import Engine
from ga4clone.reports.query import ReportPlan

_RESERVED = {
    "TOTAL": "RESERVED_TOTAL",
    "MINIMUM": "RESERVED_MIN",
    "MAXIMUM": "RESERVED_MAX",
}


def run_plan(engine: Engine, plan: ReportPlan, kind: str) -> dict[str, Any]:
    """Execute the plan's queries and build a response body of ``kind``."""
    rows = engine.execute(plan.rows)
    row_count, extremes = _summary(engine, plan, len(rows))
    width = len(plan.dimensions)
    body: dict[str, Any] = {
        "dimensionHeaders": [{"name": name} for name in plan.dimensions],
        "metricHeaders": [
            {"name": m.api_name, "type": m.type.value} for m in plan.metrics
        ],
        "rows": [_row(row[:width], row[width:], plan.metrics) for row in rows],
        "rowCount": row_count,
    }
    if plan.totals is not None:
        body["totals"] = _totals(engine, plan)
    for name, key, start in (("MINIMUM", "minimums", 2), ("MAXIMUM", "maximums", 3)):
        if name in plan.aggregations and extremes:
            body[key] = [
                _reserved_row(plan, name, str(row[0]), row[start::2])
                for row in extremes
            ]
    body["metadata"] = {"currencyCode": "USD", "timeZone": "UTC"}
    body["kind"] = kind
    return body


def _summary(
    engine: Engine, plan: ReportPlan, found: int
) -> tuple[int, list[tuple[Any, ...]]]:
    """rowCount, and the summary rows of the periods that have rows, in order.

    A summary row is (period or '', rows, then min and max of each metric).
    The query is skipped when the page alone tells the count.
    """
    extremes = {"MINIMUM", "MAXIMUM"} & set(plan.aggregations)
    complete = found < plan.limit and (found > 0 or plan.offset == 0)
    if complete and not extremes:
        return plan.offset + found, []
    rows = [row for row in engine.execute(plan.summary) if int(row[1]) > 0]
    order = {name: index for index, name in enumerate(plan.range_names)}
    rows.sort(key=lambda row: order.get(str(row[0]), -1))
    return sum(int(row[1]) for row in rows), rows


def _totals(engine: Engine, plan: ReportPlan) -> list[dict[str, Any]]:
    assert plan.totals is not None
    found = {row[0]: row[1:] for row in engine.execute(plan.totals)}
    zeros = tuple(0 for _ in plan.metrics)
    return [
        _reserved_row(plan, "TOTAL", name, found.get(name, zeros))
        for name in plan.range_names
    ]


def _reserved_row(
    plan: ReportPlan, aggregation: str, range_name: str | None, values: Any
) -> dict[str, Any]:
    labels = [
        range_name
        if name == catalog.DATE_RANGE and range_name is not None
        else _RESERVED[aggregation]
        for name in plan.dimensions
    ]
    return _row(labels, values, plan.metrics)


def _row(labels: Any, values: Any, metrics: list[Metric]) -> dict[str, Any]:
    return {
        "dimensionValues": [{"value": str(label)} for label in labels],
        "metricValues": [
            {"value": format_metric(value, metric.type)}
            for value, metric in zip(values, metrics, strict=True)
        ],
    }


def format_metric(value: Any, metric_type: MetricType) -> str:
    """A metric value as GA4 writes it: a decimal string."""
    if metric_type is MetricType.INTEGER:
        return str(value if isinstance(value, int) else int(float(value)))
    number = float(value)
    if not math.isfinite(number):
        return "0"
    if number.is_integer():
        return str(int(number))
    return repr(number)
