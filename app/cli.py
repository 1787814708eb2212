"""The ``servicedeck`` command: the desktop console by default, headless subcommands beside it.

Imports stay inside the commands so that each one loads only what it needs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from app import __version__

#: When the process started, as near as Python code can tell (start-up timings count from it).
START = time.perf_counter()

DEMO_INCIDENTS = 50_000


def _add_db(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        required=required,
        help="database URL or SQLite file (default: $SERVICEDECK_DB, else the local database)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="servicedeck",
        description="Servicedeck: a desktop console for IT service managers.",
    )
    parser.add_argument("--version", action="version", version=f"servicedeck {__version__}")
    _add_db(parser)
    parser.add_argument(
        "--demo",
        action="store_true",
        help=f"open a demo database (about {DEMO_INCIDENTS:,} incidents), creating it on first run",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="fill a database with realistic demo data")
    _add_db(demo, required=True)
    demo.add_argument("--incidents", type=int, default=DEMO_INCIDENTS, metavar="N")
    demo.add_argument("--seed", type=int, default=1, metavar="S")
    demo.add_argument(
        "--replace", action="store_true", help="empty a database that already holds data first"
    )
    demo.add_argument("--quiet", action="store_true", help="print only the summary line")

    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the schema migrations to a database")
    _add_db(upgrade)

    export = sub.add_parser("export", help="write data to files")
    export_sub = export.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    incidents = export_sub.add_parser(
        "incidents", help="every incident a filter matches, to an Excel workbook"
    )
    _add_db(incidents)
    incidents.add_argument("--out", required=True, metavar="FILE.xlsx")
    incidents.add_argument(
        "--filter",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="as in the queue, e.g. state=open priority=1,2 group=Network (one or more)",
    )
    incidents.add_argument(
        "--sort",
        default="-opened",
        metavar="[-]COLUMN",
        help="a queue column, e.g. --sort=priority or --sort=-opened (descending)",
    )

    shot = sub.add_parser("screenshot", help="save a PNG of every page, offscreen")
    _add_db(shot)
    shot.add_argument("--out", required=True, metavar="DIR")
    shot.add_argument("--size", default="1600x1000", metavar="WxH")
    shot.add_argument("--theme", choices=("light", "dark"), help="default: the system's")
    return parser


def _fail(message: str) -> int:
    print(f"servicedeck: {message}", file=sys.stderr)
    return 1


def cmd_demo(args: argparse.Namespace) -> int:
    from app.services import demo

    if args.incidents < 0:
        return _fail("--incidents must be zero or more")
    report = None if args.quiet else (lambda msg: print(msg, flush=True))
    summary = demo.create_demo_database(
        args.db, incidents=args.incidents, seed=args.seed, replace=args.replace, progress=report
    )
    print(summary.line())
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from app.db import migrate, open_database

    database = open_database(args.db, upgrade=False)
    try:
        before, after = migrate.upgrade(database.engine)
    finally:
        database.dispose()
    if before == after:
        print(f"{database.describe()} is up to date (schema {after}).")
    else:
        print(f"{database.describe()} upgraded from {before or 'empty'} to {after}.")
    return 0


def cmd_export_incidents(args: argparse.Namespace) -> int:
    from app.db import open_database
    from app.services.export_incidents import export_incidents
    from app.services.incident_query import Sort, parse_filter_args

    if not args.out.lower().endswith(".xlsx"):
        return _fail(f"--out must name an .xlsx file, not {args.out!r}")
    try:
        sort = Sort(args.sort.lstrip("-"), descending=args.sort.startswith("-"))
    except ValueError as exc:
        return _fail(f"--sort: {exc}")
    database = open_database(args.db, create=False)
    try:
        with database.session() as session:
            try:
                filt = parse_filter_args(args.filter, session)
            except ValueError as exc:
                return _fail(f"--filter: {exc}")
            try:
                written = export_incidents(session, filt, args.out, sort=sort)
            except OSError as exc:
                return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    finally:
        database.dispose()
    print(f"{written} incidents written to {args.out}")
    return 0


EXPORTS = {"incidents": cmd_export_incidents}


def cmd_export(args: argparse.Namespace) -> int:
    return EXPORTS[args.export_command](args)


def cmd_screenshot(args: argparse.Namespace) -> int:
    from app.views.screenshot import take_screenshots

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        return _fail(f"--size must look like 1600x1000, not {args.size!r}")
    for path in take_screenshots(args.db, args.out, (width, height), theme=args.theme):
        print(path)
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from app.views.application import run

    return run(args.db, demo=args.demo)


COMMANDS = {"demo": cmd_demo, "db": cmd_db, "export": cmd_export, "screenshot": cmd_screenshot}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from app.db.errors import DatabaseError

    try:
        return COMMANDS.get(args.command, cmd_gui)(args)
    except DatabaseError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
