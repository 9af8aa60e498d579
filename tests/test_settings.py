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


def test_a_refused_configuration_never_echoes_a_password() -> None:
    # Given every password set, and a check over all settings that fails,
    passwords = {
        "postgres_password": "pg-pw-7f3a",
        "rabbitmq_password": "amqp-pw-91c2",
        "clickhouse_password": "ch-pw-5e0d",
    }

    # when the settings are refused,
    with pytest.raises(ValidationError) as refused:
        _settings(rate_limit_burst=1, max_batch_events=500, **passwords)

    # then the message names the problem and none of the passwords.
    message = str(refused.value)
    assert "RATE_LIMIT_BURST" in message
    for password in passwords.values():
        assert password not in message


def test_an_otlp_protocol_outside_the_specification_is_refused() -> None:
    with pytest.raises(ValidationError, match="otel_exporter_otlp_protocol"):
        _settings(otel_exporter_otlp_protocol="http")

    assert _settings(otel_exporter_otlp_protocol="grpc").otel_exporter_otlp_protocol
