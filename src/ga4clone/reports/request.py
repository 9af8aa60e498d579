"""The JSON bodies of runReport and runRealtimeReport, as GA4's Data API names them.

Only the shape is checked here; names, dates and filters are checked, with the
path of the offending field, when a request is compiled into a query.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from ga4clone.reports.errors import InvalidArgument

_Model = TypeVar("_Model", bound=BaseModel)

# GA4 declares these fields int64 (sent as a JSON number or string). Bounding
# them here refuses a value the engine's Int64 and UInt64 could not hold.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
_Double = Annotated[float, Field(allow_inf_nan=False)]


class _Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid"
    )


class DateRange(_Body):
    start_date: str
    end_date: str
    name: str | None = None


class MinuteRange(_Body):
    start_minutes_ago: _Int64 | None = None
    end_minutes_ago: _Int64 | None = None
    name: str | None = None


class DimensionRef(_Body):
    name: str


class MetricRef(_Body):
    name: str


class StringFilter(_Body):
    match_type: str = "EXACT"
    value: str
    case_sensitive: bool = False


class InListFilter(_Body):
    values: list[str]
    case_sensitive: bool = False


class NumericValue(_Body):
    int64_value: _Int64 | None = None
    double_value: _Double | None = None


class NumericFilter(_Body):
    operation: str
    value: NumericValue


class BetweenFilter(_Body):
    from_value: NumericValue
    to_value: NumericValue


class Filter(_Body):
    field_name: str
    string_filter: StringFilter | None = None
    in_list_filter: InListFilter | None = None
    numeric_filter: NumericFilter | None = None
    between_filter: BetweenFilter | None = None


class FilterExpressionList(_Body):
    expressions: list[FilterExpression]


class FilterExpression(_Body):
    and_group: FilterExpressionList | None = None
    or_group: FilterExpressionList | None = None
    not_expression: FilterExpression | None = None
    filter: Filter | None = None


class DimensionOrder(_Body):
    dimension_name: str
    order_type: str = "ALPHANUMERIC"


class MetricOrder(_Body):
    metric_name: str


class OrderBy(_Body):
    dimension: DimensionOrder | None = None
    metric: MetricOrder | None = None
    desc: bool = False


class _ReportBody(_Body):
    dimensions: list[DimensionRef] = Field(default_factory=list)
    metrics: list[MetricRef] = Field(default_factory=list)
    dimension_filter: FilterExpression | None = None
    metric_filter: FilterExpression | None = None
    order_bys: list[OrderBy] = Field(default_factory=list)
    limit: _Int64 | None = None
    metric_aggregations: list[str] = Field(default_factory=list)
    return_property_quota: bool = False


class RunReportRequest(_ReportBody):
    date_ranges: list[DateRange] = Field(default_factory=list)
    offset: _Int64 | None = None
    keep_empty_rows: bool = False
    currency_code: str | None = None
    property: str | None = None


class RunRealtimeReportRequest(_ReportBody):
    minute_ranges: list[MinuteRange] = Field(default_factory=list)


def parse_body(model: type[_Model], body: bytes) -> _Model:
    """Validate a JSON body; the first problem becomes an InvalidArgument."""
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidArgument(_path(error["loc"]), error["msg"]) from exc


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "." in str(part) or "[" in str(part):
            continue  # pydantic's union member names, not fields
        else:
            path += f".{part}" if path else str(part)
    return path
