"""Settings that cannot work together are refused at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ga4clone.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_a_burst_smaller_than_the_largest_batch_is_refused() -> None:
    with pytest.raises(ValidationError, match="RATE_LIMIT_BURST"):
        _settings(rate_limit_burst=499, max_batch_events=500)


def test_a_burst_of_the_largest_batch_or_no_rate_limit_is_fine() -> None:
    assert _settings(rate_limit_burst=500, max_batch_events=500).rate_limit_burst == 500
    off = _settings(
        rate_limit_events_per_second=0, rate_limit_burst=1, max_batch_events=500
    )
    assert off.rate_limit_burst == 1
