"""The ``ga4clone`` command: ``api``, ``worker``, ``migrate``, ``projects``, ``dlq``.

Each subcommand reads :class:`Settings` once and hands it down; ``--help`` of
every subcommand lists the environment variables it reads, with defaults.
``projects`` manages projects, keys, allowed origins and data streams; keys
and api_secrets are printed once, when they are made, and never again.
``dlq`` inspects and replays the dead-letter queue.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import signal
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ga4clone import __version__
from ga4clone.logs import configure_logging
from ga4clone.settings import Settings

if TYPE_CHECKING:
    from ga4clone.projects import ProjectStore

log = logging.getLogger(__name__)

_API_GROUPS = (
    "server",
    "max_",
    "publish",
    "retry_after",
    "trusted",
    "rabbitmq",
    "key_cache",
    "rate_limit",
    "client_ip",
    "postgres",
    "clickhouse",
    "reports",
    "otel",
)
_PROJECTS_GROUPS = ("postgres",)
_DLQ_GROUPS = ("rabbitmq",)
_WORKER_GROUPS = (
    "worker",
    "rabbitmq",
    "clickhouse",
    "postgres",
    "store_bots",
    "geoip",
    "otel",
)
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


def _run_api(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from ga4clone.api.app import create_app
    from ga4clone.telemetry import instrument_asgi, setup_tracing

    setup_tracing(settings, "ga4clone-api")
    # uvicorn re-raises the signal it shut down for, under the handlers it
    # found at start. After a drained shutdown that is a clean exit, so the
    # handlers it finds ignore the signal and the process returns 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: None)
    uvicorn.run(
        instrument_asgi(create_app(settings)),
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


def _run_worker(settings: Settings, _args: argparse.Namespace) -> int:
    from ga4clone.telemetry import setup_tracing
    from ga4clone.worker.consumer import Consumer

    # A batch holds at most the prefetch window: link every message of it.
    setup_tracing(settings, "ga4clone-worker", max_links=settings.worker_prefetch)
    consumer = Consumer(settings)
    consumer.install_signal_handlers()
    consumer.run()
    return 0


def _run_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from ga4clone.migrate import migrate

    migrate(settings)
    return 0


def _run_projects(settings: Settings, args: argparse.Namespace) -> int:
    from ga4clone.projects import ProjectStore

    # An unknown id raises ProjectNotFound; main() reports it on stderr, exit 1.
    store = ProjectStore(settings.postgres_dsn, max_connections=1)
    try:
        return int(_PROJECT_ACTIONS[args.action](store, args))
    finally:
        store.close()


def _projects_create(store: ProjectStore, args: argparse.Namespace) -> int:
    created = store.create(args.name, args.origin)
    print(f"project id:  {created.id}")
    print(f"write key:   {created.write_key}")
    print(f"secret key:  {created.secret_key}")
    print("The secret key is shown only now; store it somewhere safe.")
    return 0


def _projects_list(store: ProjectStore, _args: argparse.Namespace) -> int:
    for project in store.list():
        state = "disabled" if project.disabled_at else "enabled"
        keys = " ".join(f"{k}={v}..." for k, v in sorted(project.key_prefixes.items()))
        origins = ",".join(project.allowed_origins) or "-"
        print(f"{project.id}  {state:<8}  {project.name!r}  {keys}  origins={origins}")
    return 0


def _projects_rotate_key(store: ProjectStore, args: argparse.Namespace) -> int:
    token = store.rotate_key(args.id, args.kind)
    print(f"new {args.kind} key: {token}")
    print("The previous key is revoked; API replicas forget it within KEY_CACHE_TTL_S.")
    return 0


def _projects_disable(store: ProjectStore, args: argparse.Namespace) -> int:
    store.disable(args.id)
    print(f"project {args.id} disabled")
    return 0


def _projects_add_stream(store: ProjectStore, args: argparse.Namespace) -> int:
    stream = store.create_stream(args.id, args.measurement_id, args.platform)
    print(f"stream id:       {stream.id}")
    print(f"measurement_id:  {stream.measurement_id}")
    print(f"api_secret:      {stream.api_secret}")
    print("The api_secret is shown only now.")
    return 0


def _projects_streams(store: ProjectStore, args: argparse.Namespace) -> int:
    streams = store.streams(args.id)
    for stream in streams:
        print(
            f"{stream.measurement_id}  {stream.platform:<7}  stream {stream.id}"
            f"  created {_when(stream.created_at)}"
        )
        for secret in stream.secrets:
            state = f"revoked {_when(secret.revoked_at)}" if secret.revoked_at else ""
            print(
                f"  api_secret {secret.id:<6} {secret.prefix}...  "
                f"created {_when(secret.created_at)}  {state}".rstrip()
            )
    if not streams:
        print(f"project {args.id} has no streams")
    return 0


def _when(moment: datetime.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


def _projects_add_secret(store: ProjectStore, args: argparse.Namespace) -> int:
    secret = store.add_stream_secret(args.measurement_id)
    print(f"api_secret id:   {secret.id}")
    print(f"measurement_id:  {secret.measurement_id}")
    print(f"api_secret:      {secret.api_secret}")
    print("The api_secret is shown only now; the stream's other secrets still work.")
    return 0


def _projects_revoke_secret(store: ProjectStore, args: argparse.Namespace) -> int:
    revoked = store.revoke_stream_secret(args.secret_id)
    print(
        f"api_secret {revoked.id} of {revoked.measurement_id} revoked at "
        f"{_when(revoked.revoked_at)}"
    )
    print("API replicas forget it within KEY_CACHE_TTL_S.")
    if revoked.active_left == 0:
        print(f"{revoked.measurement_id} has no active api_secret left.")
    return 0


def _projects_set_origins(store: ProjectStore, args: argparse.Namespace) -> int:
    store.set_origins(args.id, args.origins)
    print(f"project {args.id} allows {len(args.origins)} origins")
    return 0


_PROJECT_ACTIONS: dict[str, Callable[[ProjectStore, argparse.Namespace], int]] = {
    "create": _projects_create,
    "list": _projects_list,
    "rotate-key": _projects_rotate_key,
    "disable": _projects_disable,
    "add-stream": _projects_add_stream,
    "streams": _projects_streams,
    "add-secret": _projects_add_secret,
    "revoke-secret": _projects_revoke_secret,
    "set-origins": _projects_set_origins,
}


def _secret_id(text: str) -> int:
    """An api_secret id: a positive integer that fits the bigserial column."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value < 2**63:
        raise argparse.ArgumentTypeError(f"not an api_secret id: {text!r}")
    return value


def _add_projects_actions(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="Create a project and its keys.")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--origin", action="append", default=[], help="Allowed browser origin."
    )
    actions.add_parser("list", help="List projects with their key prefixes.")
    rotate = actions.add_parser("rotate-key", help="Replace a key, revoking the old.")
    rotate.add_argument("id", type=uuid.UUID)
    rotate.add_argument("--kind", choices=("write", "secret"), default="write")
    disable = actions.add_parser("disable", help="Refuse every key of a project.")
    disable.add_argument("id", type=uuid.UUID)
    stream = actions.add_parser("add-stream", help="Add a Measurement Protocol stream.")
    stream.add_argument("id", type=uuid.UUID)
    stream.add_argument("--measurement-id", required=True)
    stream.add_argument("--platform", choices=("WEB", "IOS", "ANDROID"), default="WEB")
    streams = actions.add_parser(
        "streams", help="List a project's streams and their api_secrets' ids."
    )
    streams.add_argument("id", type=uuid.UUID)
    add_secret = actions.add_parser(
        "add-secret", help="Give a stream one more api_secret."
    )
    add_secret.add_argument("measurement_id", help="measurement id or firebase_app_id")
    revoke = actions.add_parser(
        "revoke-secret", help="Revoke an api_secret, by its listed id."
    )
    revoke.add_argument("secret_id", type=_secret_id, help="as `streams` lists it")
    origins = actions.add_parser("set-origins", help="Replace the allowed origins.")
    origins.add_argument("id", type=uuid.UUID)
    origins.add_argument("origins", nargs="*", metavar="URL")


def _run_dlq(settings: Settings, args: argparse.Namespace) -> int:
    from ga4clone import dlq

    if args.action == "inspect":
        letters = dlq.inspect(settings, args.limit)
        for letter in letters:
            print(
                f"{letter.message_id}  {letter.size_bytes:>8} B  "
                f"{letter.reason!r}  {letter.preview!r}"
            )
        print(f"{len(letters)} dead letters shown")
        return 0
    print(f"{dlq.replay(settings, args.limit)} dead letters replayed")
    return 0


def _add_dlq_actions(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    inspect = actions.add_parser("inspect", help="Show dead letters; consume none.")
    inspect.add_argument("--limit", type=int, default=100)
    replay = actions.add_parser("replay", help="Republish dead letters to the queue.")
    replay.add_argument("--limit", type=int, default=None)


_Run = Callable[[Settings, argparse.Namespace], int]

_COMMANDS: dict[str, tuple[str, Sequence[str], _Run]] = {
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
    "projects": (
        "Manage projects, keys, allowed origins and streams.",
        _PROJECTS_GROUPS,
        _run_projects,
    ),
    "dlq": ("Inspect or replay the dead-letter queue.", _DLQ_GROUPS, _run_dlq),
}

_ACTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "projects": _add_projects_actions,
    "dlq": _add_dlq_actions,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ga4clone", description="Self-hosted event analytics pipeline."
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (summary, groups, _run) in _COMMANDS.items():
        command = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=_settings_help(groups),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name in _ACTIONS:
            _ACTIONS[name](command)
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
    try:
        return run(settings, args)
    except Exception as exc:
        message = _explain(exc)
        if message is None:
            raise
        print(f"ga4clone {args.command}: {message}", file=sys.stderr)
        return 1


def _explain(exc: Exception) -> str | None:
    """A one-line cause for the failures an operator can fix; None otherwise."""
    import psycopg2.errors

    from ga4clone.errors import Ga4cloneError

    if isinstance(exc, psycopg2.errors.UndefinedTable):
        return "the database is not migrated; run `ga4clone migrate` first"
    if isinstance(exc, psycopg2.OperationalError):
        return f"cannot reach PostgreSQL: {str(exc).strip()}"
    if isinstance(exc, Ga4cloneError):
        return str(exc)
    return None
