-- Raw events, one row per event, written by the worker in columnar batches.
--
-- ReplacingMergeTree collapses rows with the same sorting key, and the sorting
-- key ends with event_id, so a redelivered batch leaves one row per event once
-- parts merge; queries that must be exact before that read with FINAL.
-- The event_params arrays follow the event_params of GA4's BigQuery export:
-- one typed value per key, the other value columns NULL.
CREATE TABLE IF NOT EXISTS events
(
    project_id UUID,
    event_date Date,
    event_name {{ low_cardinality_string }},
    event_id UUID,
    event_timestamp UInt64,
    received_timestamp UInt64,
    client_id String,
    session_id String,
    path String,
    referrer String,
    sdk_name {{ low_cardinality_string }},
    sdk_version {{ low_cardinality_string }},
    user_agent String,
    client_ip String,
    event_params Nested
    (
        key String,
        string_value Nullable(String),
        int_value Nullable(Int64),
        double_value Nullable(Float64)
    ),
    message_id UUID,
    inserted_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (project_id, event_date, event_name, event_id)
SETTINGS index_granularity = 8192;
