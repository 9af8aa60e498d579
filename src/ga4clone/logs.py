"""Process-wide logging set-up: one JSON object per line on stderr.

Each line carries, besides the message and any ``extra`` fields, the id of the
API request being served (``request_id``, bound by the API's request
middleware) and the trace and span ids when a recording span is current, so a
log line can be found from a trace and the other way round.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson
from opentelemetry import trace

# The id of the API request this task serves; None outside requests.
request_id: ContextVar[str | None] = ContextVar("ga4clone_request_id", default=None)

# Attributes every LogRecord has; anything else was passed with ``extra=``.
_IGNORED = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class JsonFormatter(logging.Formatter):
    """Formats a record as a single JSON line with its ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        _add_context(line)
        for key, value in vars(record).items():
            if key not in _IGNORED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _add_context(line: dict[str, object]) -> None:
    """Add the request id and the current trace and span ids, where there are."""
    rid = request_id.get()
    if rid is not None:
        line["request_id"] = rid
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        line["trace_id"] = trace.format_trace_id(span.trace_id)
        line["span_id"] = trace.format_span_id(span.span_id)


def configure_logging(level: str) -> None:
    """Send every logger's records, as JSON lines, to stderr at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pika logs every frame-level hiccup at INFO; its warnings are enough.
    logging.getLogger("pika").setLevel(max(logging.WARNING, root.level))
