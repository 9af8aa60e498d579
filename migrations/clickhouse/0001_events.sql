-- Raw events, one row per event, written by the worker in columnar batches.
--
-- The layout follows GA4's BigQuery export so GA4 users recognise it; its
-- nested records are flattened with underscores (GA4's device.category is
-- device_category here, collected_traffic_source.manual_source is
-- collected_traffic_source_manual_source). docs/events-table.md lists every
-- column.
--
-- ReplacingMergeTree collapses rows with the same sorting key, and the sorting
-- key ends with event_id, so a redelivered batch leaves one row per event once
-- parts merge; queries that must be exact before that read with FINAL.
CREATE TABLE IF NOT EXISTS events
(
    project_id UUID,
    event_date Date,
    event_name {{ low_cardinality_string }},
    event_id UUID,
    event_timestamp UInt64,
    received_timestamp UInt64,

    -- One typed value per key, the other value columns NULL, as in GA4's
    -- export; booleans are stored as int_value 0 or 1.
    event_params Nested
    (
        key String,
        string_value Nullable(String),
        int_value Nullable(Int64),
        double_value Nullable(Float64)
    ),

    user_pseudo_id String,
    user_id String,
    session_id String,
    user_properties Nested
    (
        key String,
        string_value Nullable(String),
        int_value Nullable(Int64),
        double_value Nullable(Float64),
        set_timestamp_micros Nullable(Int64)
    ),
    privacy_info_analytics_storage {{ low_cardinality_string }},
    privacy_info_ads_storage {{ low_cardinality_string }},
    non_personalized_ads UInt8,

    page_location String,
    page_hostname String,
    page_path String,
    page_query String,
    page_title String,
    page_referrer String,

    device_category {{ low_cardinality_string }},
    device_mobile_brand_name {{ low_cardinality_string }},
    device_mobile_model_name String,
    device_operating_system {{ low_cardinality_string }},
    device_operating_system_version String,
    device_browser {{ low_cardinality_string }},
    device_browser_version String,
    device_language {{ low_cardinality_string }},
    is_bot UInt8,

    geo_continent {{ low_cardinality_string }},
    geo_sub_continent {{ low_cardinality_string }},
    geo_country {{ low_cardinality_string }},
    geo_region String,
    geo_city String,
    geo_metro String,

    -- How this event's visit arrived, classified from the referrer and the
    -- page's UTM parameters (GA4's traffic_source is the user's first visit;
    -- the event-scoped classification is what can be known at ingestion).
    traffic_source_name String,
    traffic_source_medium {{ low_cardinality_string }},
    traffic_source_source String,
    collected_traffic_source_manual_campaign_id String,
    collected_traffic_source_manual_campaign_name String,
    collected_traffic_source_manual_source String,
    collected_traffic_source_manual_medium String,
    collected_traffic_source_manual_term String,
    collected_traffic_source_manual_content String,
    collected_traffic_source_gclid String,
    collected_traffic_source_dclid String,
    collected_traffic_source_srsltid String,

    platform {{ low_cardinality_string }},
    stream_id String,

    -- Server-side fields: what the ingest API saw of the request.
    ingest_endpoint {{ low_cardinality_string }},
    sdk_name {{ low_cardinality_string }},
    sdk_version {{ low_cardinality_string }},
    user_agent String,
    client_ip String,
    message_id UUID,
    inserted_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (project_id, event_date, event_name, event_id)
SETTINGS index_granularity = 8192;
