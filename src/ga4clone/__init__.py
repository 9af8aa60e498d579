"""ga4clone: a self-hosted event analytics pipeline in the spirit of GA4."""

__version__ = "0.1.0"
