"""The exceptions ga4clone raises; library errors are translated into these."""


class Ga4cloneError(Exception):
    """Base class of every error raised by ga4clone itself."""


class BrokerUnavailable(Ga4cloneError):
    """Raised when RabbitMQ cannot be reached or closed the connection."""


class PublishNotConfirmed(Ga4cloneError):
    """Raised when RabbitMQ nacks, returns or does not confirm a message in time."""


class PoisonMessage(Ga4cloneError):
    """Raised when a queued message cannot be decoded or stored, ever."""


class StoreUnavailable(Ga4cloneError):
    """Raised when ClickHouse or PostgreSQL fails in a way worth retrying."""


class MigrationError(Ga4cloneError):
    """Raised when a migration file is malformed or fails to apply."""
