"""The worker: consumes event messages and writes them to ClickHouse and PostgreSQL."""
