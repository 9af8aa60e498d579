-- Daily aggregates per project and UTC day, as the original system kept them,
-- and the ids of the queue messages already counted into them.
--
-- metric_name is 'events' (all events), 'page_views' (page_view events) or
-- 'event:<eventName>' (one counter per event name).
CREATE TABLE daily_metrics (
    project_id uuid NOT NULL,
    date date NOT NULL,
    metric_name text NOT NULL,
    metric_value bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, date, metric_name)
);

-- The worker inserts a batch's message ids in the same transaction as the
-- aggregates, so a redelivered message is recognised and not counted again.
CREATE TABLE processed_messages (
    message_id uuid PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX processed_messages_processed_at ON processed_messages (processed_at);
