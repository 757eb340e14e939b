"""The `scp-volume-mcp` command: `serve`, `demo`, `emulator`, `doctor`, `audit` and `db`."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from . import __version__
from .audit.command import run_audit, run_close
from .demo import run_demo
from .doctor import run_doctor
from .emulator import (
    DEFAULT_MAX_VOLUME_GB,
    EMULATOR_ACCESS_KEY,
    EMULATOR_SECRET_KEY,
    REHEARSAL_CLOSE,
    REHEARSAL_TRAIL,
    EmulatorSettings,
    EmulatorState,
    default_volumes,
    generated_volumes,
    load_volumes,
    serve_forever,
)
from .emulator import DEFAULT_PORT as EMULATOR_PORT
from .http_transport import serve
from .logs import LOG_LEVELS, configure_logging
from .scp import url_host
from .settings import CONFIRMATION_POLICIES, rehearsal_audit_log, say_start_problems
from .team.commands import run_migrate

DESCRIPTION = """\
Grow Samsung Cloud Platform (SCP v2) block-storage volumes from MCP clients, safely.

Credentials come from SCP_ACCESS_KEY / SCP_SECRET_KEY or ~/.scpconf/credentials.json; the
endpoint from SCP_ENDPOINT, or SCP_REGION + SCP_ENVIRONMENT. See README.md for every setting.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scp-volume-mcp", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.upper, default="WARNING", help="stderr log level")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="stderr log format")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the MCP server (stdio by default; --transport http for streamable HTTP)",
        description="Run the MCP server.",
    )
    _serve_options(serve)

    commands.add_parser(
        "demo",
        help="try everything against the embedded SCP emulator: no account, no network",
        description="Start the embedded SCP emulator and the MCP server, and drive a real MCP client through "
        "list, plan, a confirmed extension with progress, and a refused shrink. Needs no account and no network.",
    )

    emulator = commands.add_parser(
        "emulator",
        help="run the embedded SCP emulator on loopback, for rehearsals",
        description="Serve the SCP volume API emulator on loopback until interrupted. Point the server at it with "
        "SCP_ENDPOINT and the printed keys. Faults can be injected with POST /_emulator/faults.",
    )
    _emulator_options(emulator)

    commands.add_parser(
        "doctor",
        help="check configuration, credentials, connectivity and clock",
        description="Show where each setting comes from (secrets masked), whether the endpoint answers a signed "
        "request, the clock offset and the API version's status. Exits non-zero when something is wrong.",
    )
    audit = commands.add_parser(
        "audit",
        help="show the audit trail (file or team database), intents without an outcome included",
        description="Read the audit trail from the configured backend (SCP_AUDIT_LOG, or SCP_DATABASE_URL in team "
        "mode), oldest first. An intent that no outcome record answers is shown as 'outcome unknown'.",
    )
    _audit_options(audit)
    database = commands.add_parser(
        "db",
        help="team mode: create or upgrade the PostgreSQL schema (run once, as the tables' owner)",
        description="Team mode's schema lives in the database of SCP_DATABASE_URL. `db migrate` creates or upgrades "
        "it; run it as the owner of the tables, so that replicas can run as a role that may only INSERT and SELECT "
        "(see the README's GRANTs). Replicas never run DDL: they refuse to extend while the schema is missing or old.",
    )
    database.add_argument("action", choices=("migrate",), help="migrate: create or upgrade the schema")
    return parser


def _serve_options(parser: argparse.ArgumentParser) -> None:
    """`serve`: the transport, its address and authentication, and the server's policies."""

    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000); the endpoint is /mcp")
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="HTTP on loopback without a bearer token (any local user can then use it); otherwise a token is "
        "required: SCP_MCP_HTTP_TOKEN, or one generated and printed at start",
    )
    parser.add_argument("--tls-certfile", metavar="PEM", help="serve HTTPS with this certificate (with --tls-keyfile)")
    parser.add_argument("--tls-keyfile", metavar="PEM", help="the certificate's private key")
    parser.add_argument(
        "--read-only", action="store_true", help="do not offer extend_volume at all (same as SCP_READ_ONLY=1)"
    )
    parser.add_argument(
        "--stateless",
        action="store_true",
        help="HTTP without sessions, for replicas behind a load balancer without sticky sessions (see README)",
    )
    parser.add_argument(
        "--confirmation",
        choices=CONFIRMATION_POLICIES,
        help="how an extension is confirmed (default: SCP_CONFIRMATION or auto); see README",
    )


def _emulator_options(parser: argparse.ArgumentParser) -> None:
    """`emulator`: its address, the volumes it serves and how the platform behaves."""

    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=EMULATOR_PORT, help=f"default {EMULATOR_PORT}")
    parser.add_argument("--volumes", metavar="FILE", help="JSON file of volumes to serve instead of the seeded ones")
    parser.add_argument("--extend-seconds", type=float, default=5.0, help="how long an extension takes (default 5)")
    parser.add_argument(
        "--snapshot-seconds", type=float, default=3.0, help="how long a new snapshot stays creating (default 3)"
    )
    parser.add_argument(
        "--timestamp-window",
        type=float,
        default=900.0,
        help="seconds of clock skew accepted (default 900; 0 turns the check off)",
    )
    parser.add_argument(
        "--max-volume-size",
        type=int,
        default=DEFAULT_MAX_VOLUME_GB,
        metavar="GB",
        help=f"largest volume, also the quota's per-volume limit (default {DEFAULT_MAX_VOLUME_GB}, Virtual Server "
        "data volumes)",
    )
    parser.add_argument(
        "--attached-stays-in-use", action="store_true", help="attached volumes stay in-use while extending"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="delay every answer of the volume API by this many milliseconds, as a region away does (default 0)",
    )
    parser.add_argument(
        "--generated-volumes",
        type=int,
        default=0,
        metavar="N",
        help="serve N generated volumes as well (gen-00001, ...), to rehearse an account's scale",
    )


def _audit_options(parser: argparse.ArgumentParser) -> None:
    """`audit`: which records to show, and how."""
    parser.add_argument("--volume", metavar="ID", help="only this volume's records")
    parser.add_argument(
        "--since", metavar="TIME", help="ISO 8601 time (UTC unless it says) or a duration: 90m, 12h, 7d"
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="only the records of requests sent to this SCP endpoint (records that name none are left out)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--close",
        metavar="ATTEMPT_ID",
        help="settle an open attempt (a resize that may still be under way, which blocks other resizes of its "
        "volume) once you have checked the volume: it no longer blocks; recorded in the trail",
    )
    parser.add_argument("--reason", metavar="TEXT", help="with --close: why, recorded in the trail")


def _run_emulator(args: argparse.Namespace) -> int:

    settings = EmulatorSettings(
        extend_seconds=args.extend_seconds,
        snapshot_seconds=args.snapshot_seconds,
        timestamp_window_s=args.timestamp_window or None,
        attached_stays_in_use=args.attached_stays_in_use,
        per_volume_limit_gb=args.max_volume_size,
        max_volume_size_gb=args.max_volume_size,
        latency_s=max(0.0, args.latency) / 1000,
    )
    try:
        volumes = load_volumes(args.volumes) if args.volumes else None
    except ValueError as exc:  # one line naming the file and the entry, not a traceback
        print(f"scp-volume-mcp: {exc}", file=sys.stderr)
        return 2
    if args.generated_volumes > 0:
        volumes = (volumes or default_volumes()) + generated_volumes(args.generated_volumes)
    state = EmulatorState(volumes, settings)
    host = url_host(args.host)
    trail = shlex.quote(str(rehearsal_audit_log()))
    print(
        f"SCP emulator on http://{host}:{args.port} ({len(state.all())} volumes). Use:\n"
        f"  export SCP_ENDPOINT=http://{host}:{args.port}\n"
        f"  export SCP_ACCESS_KEY={EMULATOR_ACCESS_KEY}\n"
        f"  export SCP_SECRET_KEY={EMULATOR_SECRET_KEY}\n"
        f"  export SCP_AUDIT_LOG={trail}  # the rehearsals' own audit trail\n"
        "To rehearse endpoint discovery instead, unset SCP_ENDPOINT and:\n"
        f"  export SCP_AUTH_URL=http://{host}:{args.port}/v1 SCP_REGION=kr-west1\n"
        f"{REHEARSAL_TRAIL}\n"
        f"{REHEARSAL_CLOSE.replace('<the rehearsal file>', trail)}\n"
        "Press Ctrl+C to stop.",
        file=sys.stderr,
        flush=True,
    )
    serve_forever(state, args.host, args.port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return _run(_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.log_format)
    if args.command == "serve":
        say_start_problems(args.transport)  # what is already wrong, said now rather than at the first call

        return serve(
            transport=args.transport,
            host=args.host,
            port=args.port,
            read_only=args.read_only or None,
            confirmation=args.confirmation,
            no_auth=args.no_auth,
            tls_certfile=args.tls_certfile,
            tls_keyfile=args.tls_keyfile,
            stateless=args.stateless,
        )
    if args.command == "demo":
        return run_demo()
    if args.command == "emulator":
        return _run_emulator(args)
    if args.command == "doctor":
        return run_doctor()
    if args.command == "audit":
        if args.close:
            return run_close(args.close, reason=args.reason)
        return run_audit(volume_id=args.volume, since=args.since, as_json=args.json, endpoint=args.endpoint)
    if args.command == "db":
        return run_migrate()
    _parser().print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
