"""A reports API in the shape of GA4's Data API, over the events in ClickHouse.

Routes (added by :func:`register_routes`):
    POST /v1beta/properties/{id}:runReport          a report over date ranges
    POST /v1beta/properties/{id}:runRealtimeReport  the last 30 minutes
    GET  /v1beta/properties/{id}/metadata           dimensions and metrics
    GET  /v1/projects/{id}/metrics/daily            PostgreSQL's daily_metrics

docs/reports.md defines every dimension and metric.
"""

from ga4clone.reports.daily import DailyMetricsStore
from ga4clone.reports.engines import DriverEngine
from ga4clone.reports.resources import Access, Authorize, register_routes

__all__ = [
    "Access",
    "Authorize",
    "DailyMetricsStore",
    "DriverEngine",
    "register_routes",
]
