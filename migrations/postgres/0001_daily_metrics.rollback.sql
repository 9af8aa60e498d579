DROP TABLE processed_messages;
DROP TABLE daily_metrics;
