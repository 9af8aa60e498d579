"""The HTTP ingest API and its RabbitMQ publisher."""
