"""Compile a report request into SQL text and a dict of bound parameters.

Placeholders are ClickHouse's server-side form ``{name:Type}``; an engine
adapter (see :mod:`ga4clone.reports.engines`) turns them into what its client
takes. Every value from a request is bound; the SQL text holds only the
catalog's expressions, our aliases and placeholder names.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from ga4clone.reports import catalog
from ga4clone.reports.catalog import Dimension, Metric
from ga4clone.reports.errors import InvalidArgument
from ga4clone.reports.re2 import re2_refusal
from ga4clone.reports.request import (
    DateRange,
    FilterExpression,
    MinuteRange,
    NumericValue,
    OrderBy,
    RunRealtimeReportRequest,
    RunReportRequest,
)

# GA4's limits: 9 dimensions, 10 metrics, 4 date ranges, 2 minute ranges.
MAX_DIMENSIONS = 9
MAX_METRICS = 10
MAX_DATE_RANGES = 4
MAX_MINUTE_RANGES = 2
MAX_REALTIME_MINUTES = 29
MAX_FILTER_DEPTH = 16
DEFAULT_LIMIT = 10_000

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The days ClickHouse's Date column holds on every supported server (18.16
# ends in 2105; later servers in 2149): a date outside them is refused, not
# sent (the driver would write year 999 as '999-12-31', which servers refuse).
FIRST_DATE = dt.date(1970, 1, 1)
LAST_DATE = dt.date(2105, 12, 31)
_DAYS_AGO = re.compile(r"^(\d{1,5})daysAgo$")
_OPERATORS = {
    "EQUAL": "=",
    "LESS_THAN": "<",
    "LESS_THAN_OR_EQUAL": "<=",
    "GREATER_THAN": ">",
    "GREATER_THAN_OR_EQUAL": ">=",
}
_ORDER_TYPES = {
    "ALPHANUMERIC": "{0}",
    "CASE_INSENSITIVE_ALPHANUMERIC": "lowerUTF8({0})",
    # GA4's NUMERIC order (DimensionOrderBy.OrderType) ranks every value that
    # is not a number alike, below all numbers: hence the flag first.
    "NUMERIC": "isNotNull(toFloat64OrNull({0})){1}, toFloat64OrZero({0})",
}
_AGGREGATIONS = ("TOTAL", "MINIMUM", "MAXIMUM")


@dataclass(frozen=True)
class Query:
    """One SQL statement with ``{name:Type}`` placeholders and their values."""

    sql: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ReportPlan:
    """The queries of one report and what the response needs to label them."""

    dimensions: list[str]
    metrics: list[Metric]
    rows: Query
    summary: Query
    totals: Query | None
    aggregations: list[str]
    range_names: list[str]
    offset: int
    limit: int


@dataclass
class _Binder:
    """Hands out placeholder names for values, in order."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, type_name: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return "{" + name + ":" + type_name + "}"


@dataclass(frozen=True)
class _Period:
    name: str
    condition: str


def compile_report(
    request: RunReportRequest,
    project_id: str,
    today: dt.date,
    max_rows: int,
    *,
    exact_counts: bool = True,
) -> ReportPlan:
    """The plan of a runReport request for one project."""
    binder = _Binder()
    if not request.date_ranges:
        raise InvalidArgument("dateRanges", "at least one date range is required")
    if len(request.date_ranges) > MAX_DATE_RANGES:
        raise InvalidArgument(
            "dateRanges", f"at most {MAX_DATE_RANGES} date ranges are allowed"
        )
    periods = [
        _date_period(r, f"dateRanges[{i}]", i, today, binder)
        for i, r in enumerate(request.date_ranges)
    ]
    offset = request.offset or 0
    if offset < 0:
        raise InvalidArgument("offset", "must not be negative")
    builder = _Builder(
        request,
        project_id,
        periods,
        binder,
        realtime=False,
        max_rows=max_rows,
        exact_counts=exact_counts,
    )
    return builder.plan(offset=offset, keep_empty_rows=request.keep_empty_rows)


def compile_realtime(
    request: RunRealtimeReportRequest,
    project_id: str,
    now_us: int,
    max_rows: int,
    *,
    exact_counts: bool = True,
) -> ReportPlan:
    """The plan of a runRealtimeReport request; ``now_us`` is UTC microseconds."""
    binder = _Binder()
    ranges = request.minute_ranges or [MinuteRange()]
    if len(ranges) > MAX_MINUTE_RANGES:
        raise InvalidArgument(
            "minuteRanges", f"at most {MAX_MINUTE_RANGES} minute ranges are allowed"
        )
    periods = [
        _minute_period(r, f"minuteRanges[{i}]", i, now_us, binder)
        for i, r in enumerate(ranges)
    ]
    builder = _Builder(
        request,
        project_id,
        periods,
        binder,
        realtime=True,
        max_rows=max_rows,
        exact_counts=exact_counts,
    )
    return builder.plan(offset=0, keep_empty_rows=False)


def parse_date(value: str, path: str, today: dt.date) -> dt.date:
    """A GA4 date: YYYY-MM-DD, ``today``, ``yesterday`` or ``NdaysAgo``."""
    date = _date(value, path, today)
    if not FIRST_DATE <= date <= LAST_DATE:
        raise InvalidArgument(
            path, f"must be between {FIRST_DATE} and {LAST_DATE}, the days stored"
        )
    return date


def _date(value: str, path: str, today: dt.date) -> dt.date:
    if value == "today":
        return today
    if value == "yesterday":
        return today - dt.timedelta(days=1)
    if match := _DAYS_AGO.match(value):
        return today - dt.timedelta(days=int(match.group(1)))
    if _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidArgument(
        path, f"{value!r} is not YYYY-MM-DD, today, yesterday or NdaysAgo"
    )


def _range_name(name: str | None, path: str, index: int) -> str:
    if name is None:
        return f"date_range_{index}"
    if name.startswith(("date_range_", "RESERVED_")):
        raise InvalidArgument(
            f"{path}.name", "must not begin with date_range_ or RESERVED_"
        )
    return name


def _date_period(
    date_range: DateRange, path: str, index: int, today: dt.date, binder: _Binder
) -> _Period:
    start = parse_date(date_range.start_date, f"{path}.startDate", today)
    end = parse_date(date_range.end_date, f"{path}.endDate", today)
    if start > end:
        raise InvalidArgument(path, "startDate is after endDate")
    condition = (
        f"event_date >= {binder.bind(start, 'Date')} "
        f"AND event_date <= {binder.bind(end, 'Date')}"
    )
    return _Period(_range_name(date_range.name, path, index), condition)


def _minute_period(
    minutes: MinuteRange, path: str, index: int, now_us: int, binder: _Binder
) -> _Period:
    start = (
        MAX_REALTIME_MINUTES
        if minutes.start_minutes_ago is None
        else (minutes.start_minutes_ago)
    )
    end = minutes.end_minutes_ago or 0
    if not 0 <= end <= start <= MAX_REALTIME_MINUTES:
        raise InvalidArgument(
            path,
            f"need 0 <= endMinutesAgo <= startMinutesAgo <= {MAX_REALTIME_MINUTES}",
        )
    # Minute n ago is [now - (n + 1) min, now - n min): the range covers both ends.
    first_us = now_us - (start + 1) * 60_000_000
    last_us = now_us - end * 60_000_000
    first_day = dt.datetime.fromtimestamp(first_us / 1e6, dt.UTC).date()
    condition = (
        f"event_date >= {binder.bind(first_day, 'Date')} "
        f"AND event_timestamp >= {binder.bind(first_us, 'UInt64')} "
        f"AND event_timestamp < {binder.bind(last_us, 'UInt64')}"
    )
    return _Period(_range_name(minutes.name, path, index), condition)


class _Builder:
    """Resolves a request's names and writes its queries."""

    def __init__(
        self,
        request: RunReportRequest | RunRealtimeReportRequest,
        project_id: str,
        periods: list[_Period],
        binder: _Binder,
        *,
        realtime: bool,
        max_rows: int,
        exact_counts: bool,
    ) -> None:
        self._request = request
        self._periods = periods
        self._binder = binder
        self._realtime = realtime
        self._exact_counts = exact_counts
        self._project = binder.bind(project_id, "UUID")
        self._dimensions = self._resolve_dimensions()
        self._metrics = self._resolve_metrics()
        self._sessions = any(m.needs_sessions for m in self._metrics)
        self._limit = self._resolve_limit(max_rows)

    # --- names ---------------------------------------------------------------

    def _resolve_dimensions(self) -> list[str]:
        names = [d.name for d in self._request.dimensions]
        if len(names) > MAX_DIMENSIONS:
            raise InvalidArgument(
                "dimensions", f"at most {MAX_DIMENSIONS} dimensions are allowed"
            )
        for index, name in enumerate(names):
            path = f"dimensions[{index}].name"
            if name != catalog.DATE_RANGE:
                self._dimension(name, path)
            if name in names[:index]:
                raise InvalidArgument(path, f"{name!r} is requested twice")
        if len(self._periods) > 1 and catalog.DATE_RANGE not in names:
            names.append(catalog.DATE_RANGE)
        return names

    def _dimension(self, name: str, path: str) -> Dimension:
        dimension = catalog.DIMENSIONS.get(name)
        if dimension is None or (self._realtime and not dimension.realtime):
            kind = "realtime dimension" if self._realtime else "dimension"
            raise InvalidArgument(path, f"{name!r} is not a known {kind}")
        return dimension

    def _dimension_sql(self, name: str, path: str) -> str:
        """The expression of a dimension, its constants bound."""
        dimension = self._dimension(name, path)
        self._binder.values.update(dimension.params)
        return dimension.sql

    def _resolve_metrics(self) -> list[Metric]:
        refs = self._request.metrics
        if not refs:
            raise InvalidArgument("metrics", "at least one metric is required")
        if len(refs) > MAX_METRICS:
            raise InvalidArgument(
                "metrics", f"at most {MAX_METRICS} metrics are allowed"
            )
        metrics: list[Metric] = []
        for index, ref in enumerate(refs):
            path = f"metrics[{index}].name"
            if any(m.api_name == ref.name for m in metrics):
                raise InvalidArgument(path, f"{ref.name!r} is requested twice")
            metrics.append(self._metric(ref.name, path))
        return metrics

    def _metric(self, name: str, path: str) -> Metric:
        metric = catalog.METRICS.get(name)
        if metric is None or (self._realtime and not metric.realtime):
            kind = "realtime metric" if self._realtime else "metric"
            raise InvalidArgument(path, f"{name!r} is not a known {kind}")
        return metric

    def _resolve_limit(self, max_rows: int) -> int:
        limit = self._request.limit
        if limit is None:
            return min(DEFAULT_LIMIT, max_rows)
        if not 1 <= limit <= max_rows:
            raise InvalidArgument("limit", f"must be between 1 and {max_rows}")
        return limit

    def _requested_metric(self, name: str, path: str) -> str:
        """The column of a requested metric, as GA4 filters and sorts only those."""
        for index, metric in enumerate(self._metrics):
            if metric.api_name == name:
                return f"m{index}"
        self._metric(name, path)
        raise InvalidArgument(path, f"{name!r} is not a requested metric")

    def _metric_sql(self, metric: Metric) -> str:
        sql = metric.sessions_sql if self._sessions else metric.events_sql
        if self._exact_counts:
            return sql
        # uniq is exact up to 65,536 distinct values and within about 1 %
        # above, like GA4's own estimates, and twice as fast on many users.
        return sql.replace("uniqExact", "uniq")

    def _needs_fact(self, name: str) -> bool:
        # PERF: reading event_params costs as much as the rest of a report, so
        # the base query projects only the facts the metrics aggregate.
        pattern = re.compile(rf"\b{name}\b")
        return any(pattern.search(m.events_sql) for m in self._metrics)

    def _column(self, index: int) -> str:
        name = self._dimensions[index]
        return "date_range" if name == catalog.DATE_RANGE else f"d{index}"

    # --- queries -------------------------------------------------------------

    def plan(self, *, offset: int, keep_empty_rows: bool) -> ReportPlan:
        source = self._source()
        grouped = self._grouped(source, keep_empty_rows=keep_empty_rows)
        order = self._order_by()
        rows_sql = (
            f"{grouped} ORDER BY {order} LIMIT {self._binder.bind(offset, 'UInt64')}"
            f", {self._binder.bind(self._limit, 'UInt64')}"
        )
        aggregations = self._aggregations()
        totals = self._totals() if "TOTAL" in aggregations else None
        return ReportPlan(
            dimensions=self._dimensions,
            metrics=self._metrics,
            rows=Query(rows_sql, self._binder.values),
            summary=self._summary(grouped),
            totals=totals,
            aggregations=aggregations,
            range_names=[p.name for p in self._periods],
            offset=offset,
            limit=self._limit,
        )

    def _source(self, *, split: bool = True) -> str:
        """Rows of event facts (or session facts) of every period, unioned.

        ``split=False`` leaves out the dimensions: a session is then one row
        per period, judged on all its events, as totals need.
        """
        # PERF: on 18.16 FINAL costs ~0.7 s per 4.5M events and uniqExact over
        # 100k+ users another ~1.2 s (bench/reports.py): a 30-day report takes
        # 2.8 s. Daily pre-aggregates (AggregatingMergeTree of uniqState per
        # day and dimension) or reading without FINAL once parts are merged
        # would bring it under 1 s.
        # TODO: in the rows, engagedSessions judges a session on its events in
        # the row only (totals judge it on all); a join with per-session flags
        # over the whole range would fix it.
        dimensions = self._split_dimensions() if split else []
        columns = [
            f"{self._dimension_sql(self._dimensions[i], '')} AS d{i}"
            for i in dimensions
        ]
        columns += [
            f"{sql} AS {name}"
            for name, sql in catalog.EVENT_FACTS.items()
            if self._sessions or self._needs_fact(name)
        ]
        where = self._where()
        source = " UNION ALL ".join(
            f"SELECT {', '.join([self._label(period), *columns])} FROM events FINAL "
            f"WHERE {where} AND {period.condition}"
            for period in self._periods
        )
        if not self._sessions:
            return source
        keys = ["date_range", *(f"d{i}" for i in dimensions), "_user", "_session"]
        facts = [f"{sql} AS {name}" for name, sql in catalog.SESSION_FACTS.items()]
        return (
            f"SELECT {', '.join(keys + facts)} FROM ({source}) "
            f"GROUP BY {', '.join(keys)}"
        )

    def _where(self) -> str:
        """What every period's events must match: project, humans, filter."""
        # Bots are stored, flagged, and counted nowhere (nor in daily_metrics).
        where = f"project_id = {self._project} AND is_bot = 0"
        dimension_filter = self._request.dimension_filter
        if dimension_filter is not None:
            filter_sql = self._filter(dimension_filter, "dimensionFilter", "dimension")
            where += f" AND ({filter_sql})"
        return where

    def _split_dimensions(self) -> list[int]:
        """The indexes of the dimensions that come from the events' columns."""
        return [
            i for i, name in enumerate(self._dimensions) if name != catalog.DATE_RANGE
        ]

    def _label(self, period: _Period) -> str:
        return f"{self._binder.bind(period.name, 'String')} AS date_range"

    def _grouped(self, source: str, *, keep_empty_rows: bool) -> str:
        dimensions = [self._column(i) for i in range(len(self._dimensions))]
        metrics = [
            f"{self._metric_sql(m)} AS m{i}" for i, m in enumerate(self._metrics)
        ]
        sql = f"SELECT {', '.join(dimensions + metrics)} FROM ({source})"
        if dimensions:
            sql += f" GROUP BY {', '.join(dimensions)}"
        having = []
        if not keep_empty_rows:
            # GA4 leaves out rows whose every metric is zero.
            zeros = " AND ".join(f"m{i} = 0" for i in range(len(self._metrics)))
            having.append(f"NOT ({zeros})")
        if self._request.metric_filter is not None:
            having.append(
                self._filter(self._request.metric_filter, "metricFilter", "metric")
            )
        if having:
            sql += " HAVING " + " AND ".join(f"({h})" for h in having)
        return sql

    def _totals(self) -> Query:
        """Each period's metrics over all its events, as GA4 totals them.

        The dimension filter applies, the split by dimensions does not: a
        session on three pages is one session of the total, not three.
        """
        metrics = [self._metric_sql(m) for m in self._metrics]
        sql = (
            f"SELECT date_range, {', '.join(metrics)} FROM "
            f"({self._source(split=False)}) GROUP BY date_range ORDER BY date_range"
        )
        return Query(sql, self._binder.values)

    def _summary(self, grouped: str) -> Query:
        """(period or '', rows, min and max of each metric) of the grouped rows.

        With several periods GA4 gives the extremes of each one, so the rows
        are grouped by the dateRange column that the report then carries.
        """
        extremes = [f"min(m{i}), max(m{i})" for i in range(len(self._metrics))]
        by_period = catalog.DATE_RANGE in self._dimensions
        label = "date_range" if by_period else "''"
        sql = f"SELECT {label}, count(), {', '.join(extremes)} FROM ({grouped})"
        if by_period:
            sql += " GROUP BY date_range"
        return Query(sql, self._binder.values)

    def _order_by(self) -> str:
        terms = [
            self._order_term(order, f"orderBys[{i}]")
            for i, order in enumerate(self._request.order_bys)
        ]
        if not terms:
            terms.append("m0 DESC")  # GA4's default: the first metric, descending
        # Every dimension last, so equal rows keep one order across pages.
        terms += [self._column(i) for i in range(len(self._dimensions))]
        return ", ".join(terms)

    def _order_term(self, order: OrderBy, path: str) -> str:
        direction = " DESC" if order.desc else ""
        if (order.dimension is None) == (order.metric is None):
            raise InvalidArgument(path, "set exactly one of dimension or metric")
        if order.metric is not None:
            column = self._requested_metric(
                order.metric.metric_name, f"{path}.metric.metricName"
            )
            return column + direction
        assert order.dimension is not None
        name = order.dimension.dimension_name
        if name not in self._dimensions:
            raise InvalidArgument(
                f"{path}.dimension.dimensionName",
                f"{name!r} is not a requested dimension",
            )
        template = _ORDER_TYPES.get(order.dimension.order_type)
        if template is None:
            raise InvalidArgument(
                f"{path}.dimension.orderType",
                f"must be one of {', '.join(_ORDER_TYPES)}",
            )
        column = self._column(self._dimensions.index(name))
        return template.format(column, direction) + direction

    def _aggregations(self) -> list[str]:
        requested = self._request.metric_aggregations
        for index, name in enumerate(requested):
            if name not in _AGGREGATIONS:
                raise InvalidArgument(
                    f"metricAggregations[{index}]",
                    f"must be one of {', '.join(_AGGREGATIONS)}",
                )
        return [name for name in _AGGREGATIONS if name in requested]

    # --- filters -------------------------------------------------------------

    def _filter(
        self, expression: FilterExpression, path: str, kind: str, depth: int = 0
    ) -> str:
        if depth > MAX_FILTER_DEPTH:
            raise InvalidArgument(path, f"nests deeper than {MAX_FILTER_DEPTH}")
        branches = {
            "andGroup": expression.and_group,
            "orGroup": expression.or_group,
            "notExpression": expression.not_expression,
            "filter": expression.filter,
        }
        present = [name for name, value in branches.items() if value is not None]
        if len(present) != 1:
            raise InvalidArgument(
                path, "set exactly one of andGroup, orGroup, notExpression, filter"
            )
        if expression.not_expression is not None:
            inner = self._filter(
                expression.not_expression, f"{path}.notExpression", kind, depth + 1
            )
            return f"NOT ({inner})"
        if expression.filter is not None:
            return self._field_filter(expression, f"{path}.filter", kind)
        group = expression.and_group or expression.or_group
        assert group is not None
        name = present[0]
        if not group.expressions:
            raise InvalidArgument(f"{path}.{name}.expressions", "must not be empty")
        parts = [
            self._filter(e, f"{path}.{name}.expressions[{i}]", kind, depth + 1)
            for i, e in enumerate(group.expressions)
        ]
        joiner = " AND " if name == "andGroup" else " OR "
        return joiner.join(f"({p})" for p in parts)

    def _field_filter(self, expression: FilterExpression, path: str, kind: str) -> str:
        spec = expression.filter
        assert spec is not None
        kinds = {
            "stringFilter": spec.string_filter,
            "inListFilter": spec.in_list_filter,
            "numericFilter": spec.numeric_filter,
            "betweenFilter": spec.between_filter,
        }
        present = [name for name, value in kinds.items() if value is not None]
        if len(present) != 1:
            raise InvalidArgument(path, f"set exactly one of {', '.join(kinds)}")
        name = present[0]
        numeric = name in ("numericFilter", "betweenFilter")
        if numeric != (kind == "metric"):
            raise InvalidArgument(
                f"{path}.{name}",
                "dimensions take stringFilter or inListFilter; "
                "metrics take numericFilter or betweenFilter",
            )
        if kind == "metric":
            column = self._requested_metric(spec.field_name, f"{path}.fieldName")
            return self._numeric_filter(spec, column, f"{path}.{name}")
        if spec.field_name == catalog.DATE_RANGE:
            raise InvalidArgument(f"{path}.fieldName", "dateRange cannot be filtered")
        column = self._dimension_sql(spec.field_name, f"{path}.fieldName")
        return self._string_filter(spec, column, f"{path}.{name}")

    def _string_filter(self, spec: Any, column: str, path: str) -> str:
        bind = self._binder.bind
        if spec.in_list_filter is not None:
            values = spec.in_list_filter.values
            if not values:
                raise InvalidArgument(f"{path}.values", "must not be empty")
            array = bind(list(values), "Array(String)")
            if spec.in_list_filter.case_sensitive:
                return f"has({array}, {column})"
            return f"has(arrayMap(v -> lowerUTF8(v), {array}), lowerUTF8({column}))"
        string = spec.string_filter
        match_type, value = string.match_type, string.value
        if match_type in ("FULL_REGEXP", "PARTIAL_REGEXP"):
            _check_regexp(value, f"{path}.value")
            # The group also keeps 18.16's substring prefilter, which ignores
            # (?i), from rejecting rows: it only looks at a bare literal.
            pattern = (
                f"^(?:{value})$" if match_type == "FULL_REGEXP" else f"(?:{value})"
            )
            if not string.case_sensitive:
                pattern = "(?i)" + pattern
            return f"match({column}, {bind(pattern, 'String')})"
        template = _STRING_MATCHES.get(match_type)
        if template is None:
            raise InvalidArgument(
                f"{path}.matchType",
                f"must be one of {', '.join([*_STRING_MATCHES, 'FULL_REGEXP'])}, "
                "PARTIAL_REGEXP",
            )
        placeholder = bind(value, "String")
        if not string.case_sensitive:
            column, placeholder = f"lowerUTF8({column})", f"lowerUTF8({placeholder})"
        return template.format(column=column, value=placeholder)

    def _numeric_filter(self, spec: Any, column: str, path: str) -> str:
        if spec.numeric_filter is not None:
            operator = _OPERATORS.get(spec.numeric_filter.operation)
            if operator is None:
                raise InvalidArgument(
                    f"{path}.operation", f"must be one of {', '.join(_OPERATORS)}"
                )
            value = self._number(spec.numeric_filter.value, f"{path}.value")
            return f"{column} {operator} {value}"
        between = spec.between_filter
        low = self._number(between.from_value, f"{path}.fromValue")
        high = self._number(between.to_value, f"{path}.toValue")
        return f"{column} >= {low} AND {column} <= {high}"

    def _number(self, value: NumericValue, path: str) -> str:
        if (value.int64_value is None) == (value.double_value is None):
            raise InvalidArgument(path, "set exactly one of int64Value or doubleValue")
        if value.int64_value is not None:
            return self._binder.bind(value.int64_value, "Int64")
        return self._binder.bind(value.double_value, "Float64")


_STRING_MATCHES = {
    "EXACT": "{column} = {value}",
    "BEGINS_WITH": "startsWith({column}, {value})",
    "ENDS_WITH": "endsWith({column}, {value})",
    "CONTAINS": "position({column}, {value}) > 0",
}


def _check_regexp(value: str, path: str) -> None:
    # TODO: a pattern whose compiled program exceeds RE2's memory budget, such
    # as (a{1000}){1000}, passes both checks and is refused by the engine (a
    # 503); compiling with the re2 bindings would catch it here too.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "nested set" hints
            re.compile(value)
    except re.error as exc:
        raise InvalidArgument(path, f"not a valid regular expression: {exc}") from exc
    refusal = re2_refusal(value)
    if refusal is not None:
        raise InvalidArgument(
            path, f"uses {refusal}, which ClickHouse's RE2 engine does not support"
        )
