"""The ``ga4clone`` command: ``api``, ``worker`` and ``migrate``.

Each subcommand reads :class:`Settings` once and hands it down; ``--help`` of
every subcommand lists the environment variables it reads, with defaults.
"""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from ga4clone import __version__
from ga4clone.logs import configure_logging
from ga4clone.settings import Settings

log = logging.getLogger(__name__)

_API_GROUPS = ("server", "max_", "publish", "retry_after", "trusted", "rabbitmq")
_WORKER_GROUPS = ("worker", "rabbitmq", "clickhouse", "postgres")
_MIGRATE_GROUPS = ("clickhouse", "postgres", "migrations")
_COMMON = ("log_level",)


def _settings_help(prefixes: Sequence[str]) -> str:
    lines = ["environment variables (also read from .env.local):"]
    for name, field in Settings.model_fields.items():
        if not name.startswith(tuple(prefixes) + _COMMON):
            continue
        default = "" if field.default_factory else field.default
        lines.append(f"  {name.upper():<32} {field.description} [default: {default!r}]")
    return "\n".join(lines)


def _run_api(settings: Settings) -> int:
    import uvicorn

    from ga4clone.api.app import create_app

    # uvicorn re-raises the signal it shut down for, under the handlers it
    # found at start. After a drained shutdown that is a clean exit, so the
    # handlers it finds ignore the signal and the process returns 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: None)
    uvicorn.run(
        create_app(settings),
        host=settings.server_host,
        port=settings.server_port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        # X-Forwarded-For is ours to judge, against TRUSTED_PROXIES.
        proxy_headers=False,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=30,
    )
    return 0


def _run_worker(settings: Settings) -> int:
    from ga4clone.worker.consumer import Consumer

    consumer = Consumer(settings)
    consumer.install_signal_handlers()
    consumer.run()
    return 0


def _run_migrate(settings: Settings) -> int:
    from ga4clone.migrate import migrate

    migrate(settings)
    return 0


_COMMANDS: dict[str, tuple[str, Sequence[str], Callable[[Settings], int]]] = {
    "api": ("Serve the HTTP ingest API.", _API_GROUPS, _run_api),
    "worker": (
        "Consume events into ClickHouse and PostgreSQL.",
        _WORKER_GROUPS,
        _run_worker,
    ),
    "migrate": (
        "Create the databases and apply migrations.",
        _MIGRATE_GROUPS,
        _run_migrate,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ga4clone", description="Self-hosted event analytics pipeline."
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (summary, groups, _run) in _COMMANDS.items():
        commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=_settings_help(groups),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"ga4clone: invalid configuration:\n{exc}")
        return 2
    configure_logging(settings.log_level)
    _summary, _groups, run = _COMMANDS[args.command]
    return run(settings)
