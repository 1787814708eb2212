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


def _add_kpi_filters(parser: argparse.ArgumentParser) -> None:
    for option, what in (("service", "service"), ("group", "assignment group"),
                         ("vendor", "vendor")):  # fmt: skip
        parser.add_argument(
            f"--{option}", action="append", default=[], metavar="NAME",
            help=f"only this {what} (repeat for more)",
        )  # fmt: skip
    parser.add_argument(
        "--priority", action="append", default=[], metavar="P",
        help="only this priority, 1-5 or P1-P5 (repeat for more)",
    )  # fmt: skip


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
    db_init = db_sub.add_parser(
        "init", help="a shared PostgreSQL database: migrations, group roles and their GRANTs"
    )
    _add_db(db_init)
    db_init.add_argument("--admin-user", metavar="NAME", help="also add this user as admin")
    for action, what in (("add-user", "give a user (created if new) a role"),
                         ("remove-user", "take a role (default: every role) from a user")):  # fmt: skip
        user_cmd = db_sub.add_parser(action, help=what)
        _add_db(user_cmd)
        user_cmd.add_argument("--user", required=True, metavar="NAME")
        user_cmd.add_argument(
            "--role", required=action == "add-user", metavar="ROLE",
            help="viewer, agent, change_manager, service_manager or admin",
        )  # fmt: skip
        if action == "add-user":
            user_cmd.add_argument(
                "--password-prompt", action="store_true", help="ask for the user's password"
            )

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

    kpi = sub.add_parser(
        "kpi", help="the KPIs of a period against the period before (text, or JSON with --json)"
    )
    _add_db(kpi)
    kpi.add_argument("--from", dest="date_from", metavar="DATE", help="first day (YYYY-MM-DD)")
    kpi.add_argument(
        "--to", dest="date_to", metavar="DATE", help="last day, included (default: yesterday)"
    )
    _add_kpi_filters(kpi)
    kpi.add_argument("--json", action="store_true", help="print every KPI as JSON")

    report = sub.add_parser("report", help="the executive KPI report of a month or week (.xlsx)")
    _add_db(report)
    report.add_argument(
        "--period", required=True, metavar="PERIOD", help="YYYY-MM (month) or YYYY-Www (ISO week)"
    )
    report.add_argument("--out", required=True, metavar="FILE.xlsx")
    _add_kpi_filters(report)
    report.add_argument("--quiet", action="store_true", help="no progress on stderr")

    calendar = export_sub.add_parser(
        "calendar", help="the change schedule, windows and CAB meetings, to an .ics file"
    )
    _add_db(calendar)
    calendar.add_argument("--ics", "--out", dest="out", required=True, metavar="FILE.ics")
    calendar.add_argument("--from", dest="start", metavar="DATE", help="default: today (UTC)")
    calendar.add_argument("--to", dest="end", metavar="DATE", help="inclusive; default: 90 days")
    calendar.add_argument(
        "--state",
        action="extend",
        nargs="+",
        default=[],
        metavar="S",
        help="only changes in these states, e.g. --state Scheduled Implement (default: all)",
    )

    scorecards = export_sub.add_parser(
        "scorecards",
        help="a vendor's review pack, or every vendor's scorecards without --vendor (.xlsx)",
    )
    _add_db(scorecards)
    scorecards.add_argument(
        "--period", required=True, metavar="PERIOD", help="YYYY-Qn (quarter) or YYYY-MM (month)"
    )
    scorecards.add_argument("--out", required=True, metavar="FILE.xlsx")
    scorecards.add_argument("--vendor", metavar="NAME", help="one vendor's review pack")
    scorecards.add_argument("--quiet", action="store_true", help="no progress on stderr")

    roster = sub.add_parser("roster", help="on-call rosters")
    roster_sub = roster.add_subparsers(dest="roster_command", metavar="ACTION", required=True)
    roster_export = roster_sub.add_parser(
        "export", help="a schedule's shifts to .ics calendars (per person and team) and a workbook"
    )
    _add_db(roster_export)
    roster_export.add_argument("--schedule", required=True, metavar="NAME")
    roster_export.add_argument(
        "--from", dest="start", required=True, metavar="DATE", help="first day (YYYY-MM-DD)"
    )
    roster_export.add_argument("--weeks", required=True, metavar="N")
    roster_export.add_argument("--ics", required=True, metavar="DIR")
    roster_export.add_argument("--xlsx", metavar="FILE.xlsx")

    imp = sub.add_parser(
        "import", help="incidents from a ServiceNow or Jira Service Management export"
    )
    imp.add_argument(
        "kind", choices=("servicenow", "jsm"),
        help="servicenow: a list export or an event log (told apart by its columns); jsm: a JSM CSV",
    )  # fmt: skip
    imp.add_argument("file", metavar="FILE", help="the export, .csv or .xlsx")
    _add_db(imp)
    imp.add_argument(
        "--mapping", metavar="FILE", help="a column mapping saved by the import wizard"
    )
    imp.add_argument(
        "--date-format", metavar="FMT",
        help="how the file writes dates, as for strptime, e.g. '%%d/%%m/%%Y %%H:%%M' "
        "(default: detected; asked for when the file cannot tell)",
    )  # fmt: skip
    imp.add_argument(
        "--tz", metavar="ZONE", help="the zone of the file's times, e.g. Europe/Berlin "
        "(default: this computer's)",
    )  # fmt: skip
    imp.add_argument("--quiet", action="store_true", help="no progress on stderr")

    shot = sub.add_parser("screenshot", help="save a PNG of every page, offscreen")
    _add_db(shot)
    shot.add_argument("--out", required=True, metavar="DIR")
    shot.add_argument("--size", default="1600x1000", metavar="WxH")
    shot.add_argument("--theme", choices=("light", "dark"), help="default: the system's")
    return parser


def _fail(message: str) -> int:
    print(f"servicedeck: {message}", file=sys.stderr)
    return 1


def _bad_output(option: str, path: str, suffix: str, *, folder: bool = False) -> str | None:
    """Why ``path`` cannot be written by ``option`` (wrong suffix, with ``folder`` a missing
    folder), or None when it can."""
    if not path.lower().endswith(suffix):
        return f"{option} must name an {suffix} file, not {path!r}"
    if folder:
        from pathlib import Path

        where = Path(path).resolve().parent
        if not where.is_dir():
            return f"cannot write {path}: no folder {str(where)!r}"
    return None


def _stderr_progress(quiet: bool):
    """A Progress that prints each step to stderr (silent with ``quiet``)."""
    from app.services.progress import Progress

    def show(done: int, total: int, label: str) -> None:
        print(f"[{done}/{total}] {label}", file=sys.stderr, flush=True)

    return Progress(None if quiet else show)


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


def cmd_db_roles(args: argparse.Namespace) -> int:
    from app.db import roles

    if args.db_command == "init":
        print(roles.init_database(args.db, admin_user=args.admin_user))
    elif args.db_command == "remove-user":
        print(roles.remove_user(args.db, args.user, args.role))
    else:
        roles.normalise_role(args.role)  # an unknown role fails before any prompt
        password = None
        if args.password_prompt:
            import getpass

            password = getpass.getpass(f"Password for {args.user}: ")
            if password != getpass.getpass("Again: "):
                return _fail("the two passwords differ; nothing was changed")
        print(roles.add_user(args.db, args.user, args.role, password=password))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from app.db import migrate, open_database

    if args.db_command != "upgrade":
        return cmd_db_roles(args)
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

    if problem := _bad_output("--out", args.out, ".xlsx"):
        return _fail(problem)
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


def cmd_export_calendar(args: argparse.Namespace) -> int:
    from app.db import open_database
    from app.services.calendar_export import export_calendar, parse_states, period

    if problem := _bad_output("--ics", args.out, ".ics"):
        return _fail(problem)
    try:
        start, end = period(args.start, args.end)
        states = parse_states(args.state)
    except ValueError as exc:
        return _fail(str(exc))
    database = open_database(args.db, create=False)
    try:
        with database.session() as session:
            try:
                summary = export_calendar(session, args.out, start, end, states)
            except OSError as exc:
                return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    finally:
        database.dispose()
    print(summary.line())
    return 0


def cmd_roster_export(args: argparse.Namespace) -> int:
    from app.db import open_database
    from app.services.roster_export import export_roster

    try:
        first_day = _date(args.start, "--from")
    except ValueError as exc:
        return _fail(str(exc))
    try:
        weeks = int(args.weeks)
    except ValueError:
        return _fail(f"--weeks: not a whole number: {args.weeks!r}")
    if weeks <= 0:
        return _fail("--weeks must be 1 or more")
    if args.xlsx is not None and (problem := _bad_output("--xlsx", args.xlsx, ".xlsx")):
        return _fail(problem)
    database = open_database(args.db, create=False)
    try:
        with database.session() as session:
            try:
                summary = export_roster(
                    session, args.schedule, first_day, weeks, args.ics, args.xlsx
                )
            except ValueError as exc:
                return _fail(str(exc))
            except OSError as exc:
                return _fail(f"cannot write {exc.filename or args.ics}: {exc.strerror or exc}")
    finally:
        database.dispose()
    print(summary.line())
    return 0


def cmd_roster(args: argparse.Namespace) -> int:
    return {"export": cmd_roster_export}[args.roster_command](args)


def cmd_export_scorecards(args: argparse.Namespace) -> int:
    from app.db import open_database
    from app.services.kpi import KpiColumns
    from app.services.review_pack import write_review_pack, write_summary
    from app.services.scorecards import ScorecardError, parse_period
    from app.services.vendors import vendor_by_name

    if problem := _bad_output("--out", args.out, ".xlsx", folder=True):
        return _fail(problem)
    try:
        period = parse_period(args.period)
    except ScorecardError as exc:
        return _fail(f"--period: {exc}")
    progress = _stderr_progress(args.quiet)
    database = open_database(args.db, create=False)
    try:
        with database.session() as session:
            try:
                vendor = vendor_by_name(session, args.vendor) if args.vendor else None
                if not args.quiet:
                    print("Loading the KPI columns", file=sys.stderr, flush=True)
                cols = KpiColumns.load(session)
                if vendor is None:
                    summary = write_summary(session, cols, period, args.out, progress)
                else:
                    summary = write_review_pack(session, cols, vendor, period, args.out, progress)
            except ScorecardError as exc:
                return _fail(str(exc))
            except OSError as exc:
                return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    finally:
        database.dispose()
    print(summary.line())
    return 0


EXPORTS = {
    "incidents": cmd_export_incidents,
    "calendar": cmd_export_calendar,
    "scorecards": cmd_export_scorecards,
}


def cmd_export(args: argparse.Namespace) -> int:
    return EXPORTS[args.export_command](args)


def _date(text: str, option: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option}: not a date: {text!r} (use YYYY-MM-DD)") from None


def _kpi_filters(args: argparse.Namespace, session):
    from app.services.kpi_report import resolve_filters

    return resolve_filters(session, args.service, args.group, args.vendor, args.priority)


def cmd_kpi(args: argparse.Namespace) -> int:
    import datetime as dt
    import json

    from sqlalchemy import select

    from app.db import open_database
    from app.models import Service
    from app.services.kpi import KpiFilter, compute_kpis
    from app.services.kpi_json import report_to_dict
    from app.services.kpi_report import parse_priority, utc_now

    now = utc_now()
    try:
        for p in args.priority:
            parse_priority(p)
        end = _date(args.date_to, "--to") if args.date_to else now.date() - dt.timedelta(days=1)
        start = _date(args.date_from, "--from") if args.date_from else end - dt.timedelta(days=29)
    except ValueError as exc:
        return _fail(str(exc))
    if start > end:
        return _fail(f"--from {start} is after --to {end}")
    database = open_database(args.db, create=False)
    try:
        with database.session() as session:
            try:
                filters = _kpi_filters(args, session)
            except ValueError as exc:
                return _fail(str(exc))
            filt = KpiFilter(start, end, filters.service_ids, filters.group_ids,
                             filters.vendor_ids, filters.priorities)  # fmt: skip
            report = compute_kpis(session, filt, now=now)
            names = dict(session.execute(select(Service.id, Service.name)).all())
            data = report_to_dict(report, names)
            described = filters.describe(session)
    finally:
        database.dispose()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(_kpi_text(data, described))
    return 0


def _kpi_text(data: dict, described: str) -> str:
    """The headline KPIs of the JSON as a plain table: current, previous, change."""

    def pct(rate: dict) -> float | None:
        return rate["percent"]

    rows = (
        ("MTTA (h)", lambda p: p["mtta"]["mean_hours"]),
        ("MTTR mean (h)", lambda p: p["mttr"]["mean_hours"]),
        ("MTTR median (h)", lambda p: p["mttr"]["median_hours"]),
        ("MTTR p90 (h)", lambda p: p["mttr"]["p90_hours"]),
        ("MTTR business mean (h)", lambda p: p["mttr_business"]["mean_hours"]),
        ("SLA attainment %", lambda p: pct(p["sla_attainment"])),
        ("Arrivals", lambda p: p["arrivals"]),
        ("Resolutions", lambda p: p["resolutions"]),
        ("Backlog at end", lambda p: p["backlog_end"]),
        ("Reopen rate %", lambda p: pct(p["reopen_rate"])),
        ("FCR %", lambda p: pct(p["fcr"])),
        ("Change success %", lambda p: pct(p["change_success"])),
        ("Emergency changes %", lambda p: pct(p["emergency_ratio"])),
        ("CSAT %", lambda p: pct(p["csat"])),
        ("NPS", lambda p: p["nps"]["score"]),
    )

    def fmt(value) -> str:
        if value is None:
            return "-"
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"

    cur, prev = data["current"], data["previous"]
    lines = [
        f"Period {cur['start'][:10]} to {data['filter']['end'][:10]} (end excluded), "
        f"previous {prev['start'][:10]} to {prev['end'][:10]}; filters: {described}",
        f"{'KPI':<24}{'current':>14}{'previous':>14}{'change':>14}",
    ]
    for label, get in rows:
        a, b = get(cur), get(prev)
        change = None if a is None or b is None else a - b
        lines.append(f"{label:<24}{fmt(a):>14}{fmt(b):>14}{fmt(change):>14}")
    skipped = sum(data["skipped"]["current"].values())
    if skipped:
        lines.append(f"{skipped} rows skipped as bad data: {data['skipped']['current']}")
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    from app.db import open_database
    from app.services.kpi_report import parse_period, parse_priority, write_executive_report

    if problem := _bad_output("--out", args.out, ".xlsx", folder=True):
        return _fail(problem)
    try:
        period = parse_period(args.period)
    except ValueError as exc:
        return _fail(f"--{exc}")
    try:
        for p in args.priority:
            parse_priority(p)
    except ValueError as exc:
        return _fail(str(exc))

    database = open_database(args.db, create=False)
    try:
        with database.session() as session:
            try:
                filters = _kpi_filters(args, session)
            except ValueError as exc:
                return _fail(str(exc))
            try:
                summary = write_executive_report(
                    None, session, period, args.out, filters,
                    progress=_stderr_progress(args.quiet),
                )  # fmt: skip
            except OSError as exc:
                return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    finally:
        database.dispose()
    print(summary.line())
    return 0


#: What ``servicedeck import KIND`` accepts.
IMPORT_KINDS = {"servicenow": ("servicenow", "servicenow-events"), "jsm": ("jsm",)}


def cmd_import(args: argparse.Namespace) -> int:
    """read_plan then write_plan, as the import wizard does: all of the file or none of it."""
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from app.db import open_database
    from app.services.io.importer import AmbiguousDateFormat, format_label, load_mapping, read_plan
    from app.services.io.incident_import import ImportConflict, write_plan
    from app.services.io.records import ImportFileError, ImportSource
    from app.services.progress import Cancelled

    tz = None
    if args.tz:
        from zoneinfo import ZoneInfo

        try:
            tz = ZoneInfo(args.tz)
        except (ValueError, OSError, KeyError):
            return _fail(f"--tz: unknown time zone {args.tz!r} (use a name like Europe/Berlin)")
    allowed = IMPORT_KINDS[args.kind]
    source, mapping, date_format = None, None, args.date_format
    try:
        if args.mapping:
            saved = load_mapping(args.mapping)
            if saved.source.value not in allowed:
                return _fail(
                    f"--mapping {args.mapping} is for a {saved.source.label}, "
                    f"not for `servicedeck import {args.kind}`"
                )
            source, mapping = saved.source, saved.mapping
            date_format = date_format or saved.date_format
        if not Path(args.file).is_file():
            return _fail(f"there is no file {args.file}")
        progress = _stderr_progress(args.quiet)
        database = open_database(args.db, create=False)
        try:
            plan = read_plan(
                args.file, source=source, mapping=mapping, date_format=date_format, tz=tz,
                progress=progress,
            )  # fmt: skip
            if plan.source.value not in allowed:
                other = "jsm" if plan.source is ImportSource.JSM else "servicenow"
                return _fail(
                    f"{args.file} is a {plan.source.label}, not what `import {args.kind}` "
                    f"reads; use `servicedeck import {other}`. Nothing was imported."
                )
            summary = write_plan(
                database, plan, username=database.identity.username,
                progress=progress,
            )  # fmt: skip
        finally:
            database.dispose()
    except AmbiguousDateFormat as exc:
        choices = ", ".join(f"'{f}' ({format_label(f)})" for f in exc.candidates)
        return _fail(
            f"{args.file}: the dates fit more than one format"
            f"{f' (e.g. {exc.value})' if exc.value else ''}; pass --date-format with one of "
            f"{choices}. Nothing was imported."
        )
    except ImportFileError as exc:
        return _fail(f"{_one_line(str(exc))} Nothing was imported.")
    except (ImportConflict, Cancelled) as exc:
        return _fail(_one_line(str(exc)) or "cancelled; nothing was imported")
    except SQLAlchemyError as exc:
        refused = _refused_right(exc, args.db)
        reason = refused or _one_line(str(getattr(exc, "orig", None) or exc))
        return _fail(
            f"the database refused the import: {reason.rstrip('.')}. Nothing was imported."
        )
    for line in summary.lines():
        print(line)
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


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


COMMANDS = {
    "demo": cmd_demo,
    "db": cmd_db,
    "export": cmd_export,
    "screenshot": cmd_screenshot,
    "kpi": cmd_kpi,
    "report": cmd_report,
    "roster": cmd_roster,
    "import": cmd_import,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from app.db.errors import DatabaseError

    try:
        return COMMANDS.get(args.command, cmd_gui)(args)
    except DatabaseError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")
    except Exception as exc:
        from app.db.errors import CONNECTION_LOST, connection_lost

        if connection_lost(exc):
            return _fail(CONNECTION_LOST)
        refused = _refused_right(exc, getattr(args, "db", None))
        if refused is None:
            raise
        return _fail(refused)


def _refused_right(exc: BaseException, db: str | None) -> str | None:
    """The database refused a write for a missing right: which one, in a sentence; else None."""
    from app.db.roles import missing_right

    error: BaseException | None = exc
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if missing_right(error) is not None:
            return missing_right(error, _roles_of_user(db))
        error = error.__cause__ or error.__context__
    return None


def _roles_of_user(db: str | None) -> frozenset[str] | None:
    """The Servicedeck roles of the user of ``db`` (None when they cannot be read)."""
    from app.db.engine import make_engine
    from app.db.roles import roles_of
    from app.db.url import resolve_url

    try:
        engine = make_engine(resolve_url(db))
        try:
            with engine.connect() as conn:
                return roles_of(conn)
        finally:
            engine.dispose()
    except Exception:  # only to word the message; the refusal itself is what matters
        return None


if __name__ == "__main__":
    sys.exit(main())
