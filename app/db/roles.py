"""Who may do what on a shared PostgreSQL database: group roles, their GRANTs, and users.

DOMAIN.md's split of duties is enforced by the database, not only by hidden buttons:

==================  ==================================================================
group role          may write (everyone reads every table)
==================  ==================================================================
viewer              nothing but their own saved views (and the audit rows they cause)
agent               incidents, problems, major incidents, SLA clocks; changes up to
                    Authorize (a standard change from a template may be scheduled)
change manager      as agent, plus authorising changes and the CAB (meetings,
                    decisions, votes, PIRs, change windows and standard templates)
service manager     as agent, plus vendors, contracts, scorecards, on-call rosters and
                    schedules, services, CIs, teams, people, SLA definitions, KPI targets
admin               console users and settings (priority matrix, risk questionnaire,
                    countries)
==================  ==================================================================

The audit log is append-only for every role: INSERT and SELECT, never UPDATE, DELETE
or TRUNCATE; only the owner of the tables (who ran ``servicedeck db init``) may.
"Only change managers authorise changes" is a trigger on ``change_request``: moving a
normal or emergency change past Authorize (to Scheduled, Implement, Review or Closed)
is refused with ``insufficient_privilege`` unless the user is a change manager or the
owner. The plan is data (:data:`AREAS`, :data:`TABLE_AREAS`, :data:`AREA_RIGHTS`) and
:func:`grant_plan` turns it into GRANTs for the tables of the model metadata.

For the console (the GUI hides what a role cannot do; the database still refuses):

- :func:`role_of` (``session``) → the signed-in database user's role: a :class:`Role`
  value, ``"owner"`` (the owner of the tables or a superuser: may do everything),
  ``"none"`` (a PostgreSQL user in no Servicedeck group), or ``None`` on SQLite, where
  there are no database users and everything is allowed. :func:`roles_of` gives every
  group the user is in (a user may be change manager *and* service manager).
- :func:`can` (``role`` or a set of roles, ``action``) → bool, for the actions of
  :data:`ACTIONS`: ``view``, ``save_view``, ``edit_incident``, ``edit_change``,
  ``authorise_change``, ``run_cab``, ``edit_vendor``, ``edit_roster``, ``edit_service``,
  ``admin``. ``None`` and ``"owner"`` may do everything.
- :func:`missing_right` (an error, the role) → a sentence such as "Your role (agent) may
  not change vendors (the database refused UPDATE on vendor); a service manager may.",
  or None when the error is not a refused right.

Provisioning (run as the owner of the database, with CREATEROLE or as a superuser):
:func:`init_database`, :func:`add_user`, :func:`remove_user`. Group roles are
cluster-wide in PostgreSQL (as are memberships); GRANTs are per database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from app.db.errors import DatabaseError
from app.models.enums import Role

PREFIX = "servicedeck_"

#: Role value -> PostgreSQL group role (NOLOGIN).
GROUP_ROLES: dict[str, str] = {role.value: f"{PREFIX}{role.value}" for role in Role}

#: Pseudo-roles returned by :func:`role_of`.
OWNER = "owner"
NO_ROLE = "none"

#: When one user is in several groups, the one :func:`role_of` shows.
_DISPLAY_ORDER = (
    Role.ADMIN.value,
    Role.SERVICE_MANAGER.value,
    Role.CHANGE_MANAGER.value,
    Role.AGENT.value,
    Role.VIEWER.value,
)

READ = "SELECT"
WRITE = ("INSERT", "UPDATE", "DELETE")

# --- the plan, as data ---------------------------------------------------------------

#: Area -> what it covers, in words.
AREAS: dict[str, str] = {
    "incidents": "incidents, problems, major incidents and SLA clocks",
    "changes": "changes (up to their authorisation), their CIs, services and risk answers",
    "cab": "CAB meetings, decisions and votes, post-implementation reviews, change "
    "windows and standard-change templates",
    "vendors": "vendors, contracts and scorecards",
    "rosters": "on-call schedules, rosters, overrides, leave and escalation",
    "services": "services, CIs, teams, people, SLA definitions and KPI targets",
    "settings": "console users and settings (priority matrix, risk questionnaire, countries)",
    "personal": "saved views",
    "audit": "the audit log",
    "schema": "the schema version",
}

#: Table -> area. A test checks that every table of the model metadata is here, so a new
#: table needs a decision; at run time an unknown table is readable by all, written by
#: the owner only.
TABLE_AREAS: dict[str, str] = {
    # incidents and problems
    "incident": "incidents",
    "incident_event": "incidents",
    "communication_log": "incidents",
    "major_incident_update": "incidents",
    "outage": "incidents",
    "post_incident_review": "incidents",
    "corrective_action": "incidents",
    "survey_response": "incidents",
    "problem": "incidents",
    "sla_clock": "incidents",
    # changes
    "change_request": "changes",
    "change_ci": "changes",
    "change_service": "changes",
    "risk_answer": "changes",
    # the CAB
    "cab_meeting": "cab",
    "cab_attendee": "cab",
    "cab_agenda_item": "cab",
    "cab_vote": "cab",
    "change_review": "cab",
    "change_window": "cab",
    "change_template": "cab",
    # vendors
    "vendor": "vendors",
    "vendor_contact": "vendors",
    "contract": "vendors",
    "contract_service": "vendors",
    "contract_sla_target": "vendors",
    "credit_rule": "vendors",
    "scorecard_template": "vendors",
    "scorecard_criterion": "vendors",
    "scorecard_period": "vendors",
    "scorecard_score": "vendors",
    "review_action": "vendors",
    # rosters
    "oncall_schedule": "rosters",
    "schedule_layer": "rosters",
    "layer_member": "rosters",
    "schedule_override": "rosters",
    "roster": "rosters",
    "roster_shift": "rosters",
    "roster_preference": "rosters",
    "leave": "rosters",
    "escalation_policy": "rosters",
    "escalation_level": "rosters",
    # service configuration
    "service": "services",
    "ci": "services",
    "ci_relation": "services",
    "team": "services",
    "team_member": "services",
    "person": "services",
    "sla_definition": "services",
    "business_schedule": "services",
    "business_hours": "services",
    "holiday": "services",
    "kpi_target": "services",
    # settings
    "app_user": "settings",
    "country": "settings",
    "priority_rule": "settings",
    "risk_question": "settings",
    "risk_option": "settings",
    # the rest
    "saved_view": "personal",
    "audit_log": "audit",
    "alembic_version": "schema",
}

_AGENTS = (Role.AGENT.value, Role.CHANGE_MANAGER.value, Role.SERVICE_MANAGER.value)
_ALL = tuple(GROUP_ROLES)

#: Area -> role -> privileges beyond SELECT (which every role has on every table).
AREA_RIGHTS: dict[str, dict[str, tuple[str, ...]]] = {
    "incidents": dict.fromkeys(_AGENTS, WRITE),
    "changes": dict.fromkeys(_AGENTS, WRITE),
    "cab": {Role.CHANGE_MANAGER.value: WRITE},
    "vendors": {Role.SERVICE_MANAGER.value: WRITE},
    "rosters": {Role.SERVICE_MANAGER.value: WRITE},
    "services": {Role.SERVICE_MANAGER.value: WRITE},
    "settings": {Role.ADMIN.value: WRITE},
    "personal": dict.fromkeys(_ALL, WRITE),
    "audit": dict.fromkeys(_ALL, ("INSERT",)),
    "schema": {},
}

#: Records that are closed or canceled, never deleted (the owner still may).
NO_DELETE = frozenset({"incident", "problem", "change_request", "audit_log"})

#: States a change reaches only once authorised (standard changes are pre-authorised).
AUTHORISED_STATES = ("Scheduled", "Implement", "Review", "Closed")
#: Who may move a normal or emergency change into :data:`AUTHORISED_STATES`.
AUTHORISERS = (Role.CHANGE_MANAGER.value,)

#: Console action -> (area, privilege) it needs; see :func:`can`.
ACTIONS: dict[str, tuple[str, str]] = {
    "view": ("incidents", READ),
    "save_view": ("personal", "INSERT"),
    "edit_incident": ("incidents", "UPDATE"),
    "edit_change": ("changes", "UPDATE"),
    "authorise_change": ("changes", "AUTHORISE"),
    "run_cab": ("cab", "UPDATE"),
    "edit_vendor": ("vendors", "UPDATE"),
    "edit_roster": ("rosters", "UPDATE"),
    "edit_service": ("services", "UPDATE"),
    "admin": ("settings", "UPDATE"),
}


def area_of(table: str) -> str | None:
    """The area of ``table`` (None: not in the plan; readable by all, written by the owner)."""
    return TABLE_AREAS.get(table)


def rights(role: str, table: str) -> frozenset[str]:
    """The privileges ``role`` (a :class:`Role` value) has on ``table`` by the plan."""
    area = area_of(table)
    granted = {READ}
    if area is not None:
        granted.update(AREA_RIGHTS[area].get(role, ()))
    if table in NO_DELETE:
        granted.discard("DELETE")
    return frozenset(granted)


def grant_plan(tables: Iterable[str] | None = None) -> dict[str, dict[str, frozenset[str]]]:
    """Group role -> table -> privileges, for ``tables`` (default: the model metadata's)."""
    if tables is None:
        tables = model_tables()
    tables = sorted(tables)
    return {
        group: {table: rights(role, table) for table in tables}
        for role, group in GROUP_ROLES.items()
    }


def model_tables() -> list[str]:
    """Every table of the model metadata, plus Alembic's version table."""
    import app.models  # noqa: F401 - registers every table
    from app.models.base import Base

    return [*sorted(Base.metadata.tables), "alembic_version"]


# --- the console's side -------------------------------------------------------------


def normalise_role(value: str) -> str:
    """``change manager``, ``change-manager`` or ``servicedeck_change_manager`` -> value.

    Raises :class:`RoleError` for a role that does not exist.
    """
    key = re.sub(r"[\s-]+", "_", str(value).strip().lower())
    key = key.removeprefix(PREFIX)
    if key not in GROUP_ROLES:
        raise RoleError(f"there is no role '{value}'; choose {_ROLE_CHOICES}.")
    return key


def _roles(role: str | Iterable[str] | None) -> set[str] | None:
    if role is None:
        return None
    if isinstance(role, str):
        return {role}
    return set(role)


def can(role: str | Iterable[str] | None, action: str) -> bool:
    """Whether ``role`` (or any of a set of roles) may do ``action`` (a key of ACTIONS).

    ``None`` (SQLite: no database roles) and ``"owner"`` may do everything; ``"none"``
    nothing. Raises KeyError for an unknown action, so a typo is not a silent "no".
    """
    area, privilege = ACTIONS[action]
    roles = _roles(role)
    if roles is None or OWNER in roles:
        return True
    if privilege == "AUTHORISE":
        return bool(roles & set(AUTHORISERS))
    for one in roles:
        if one not in GROUP_ROLES:
            continue
        if privilege == READ or privilege in AREA_RIGHTS[area].get(one, ()):
            return True
    return False


def roles_of(session: Session | Connection) -> frozenset[str] | None:
    """Every Servicedeck role of the session's database user (see :func:`role_of`)."""
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name != "postgresql":
        return None
    row = session.execute(
        text(
            "SELECT r.rolsuper, "
            "       coalesce(pg_has_role(current_user, c.relowner, 'USAGE'), false) "
            "FROM pg_roles r LEFT JOIN pg_class c ON c.oid = to_regclass('incident') "
            "WHERE r.rolname = current_user"
        )
    ).one()
    if row[0] or row[1]:
        return frozenset({OWNER})
    names = session.execute(
        text(
            "SELECT rolname FROM pg_roles "
            "WHERE rolname = ANY(:names) AND pg_has_role(current_user, oid, 'USAGE')"
        ),
        {"names": list(GROUP_ROLES.values())},
    ).scalars()
    found = frozenset(name.removeprefix(PREFIX) for name in names)
    return found or frozenset({NO_ROLE})


def role_of(session: Session | Connection) -> str | None:
    """The role the console shows for the signed-in database user.

    A :class:`Role` value (the first of admin, service manager, change manager, agent,
    viewer the user is in), ``"owner"`` for the owner of the tables or a superuser,
    ``"none"`` for a user in no Servicedeck group, None on SQLite (no roles: all allowed).
    """
    roles = roles_of(session)
    if roles is None:
        return None
    for role in (OWNER, *_DISPLAY_ORDER, NO_ROLE):
        if role in roles:
            return role
    return NO_ROLE  # pragma: no cover - roles_of never returns an empty set


# --- turning a refusal into a sentence ----------------------------------------------

_NOUNS: dict[str, str] = {
    "incident": "incidents",
    "incident_event": "incident work notes",
    "communication_log": "major-incident communications",
    "major_incident_update": "major-incident updates",
    "outage": "outages",
    "post_incident_review": "post-incident reviews",
    "corrective_action": "corrective actions",
    "survey_response": "survey responses",
    "problem": "problems",
    "sla_clock": "SLA clocks",
    "change_request": "changes",
    "change_ci": "the CIs of changes",
    "change_service": "the services of changes",
    "risk_answer": "risk answers",
    "cab_meeting": "CAB meetings",
    "cab_attendee": "CAB attendees",
    "cab_agenda_item": "CAB decisions",
    "cab_vote": "CAB votes",
    "change_review": "post-implementation reviews",
    "change_window": "blackout and maintenance windows",
    "change_template": "standard-change templates",
    "vendor": "vendors",
    "vendor_contact": "vendor contacts",
    "contract": "contracts",
    "contract_service": "the services of contracts",
    "contract_sla_target": "contract SLA targets",
    "credit_rule": "service-credit rules",
    "scorecard_template": "scorecard templates",
    "scorecard_criterion": "scorecard criteria",
    "scorecard_period": "scorecards",
    "scorecard_score": "scorecard scores",
    "review_action": "vendor review actions",
    "oncall_schedule": "on-call schedules",
    "schedule_layer": "schedule layers",
    "layer_member": "rotation members",
    "schedule_override": "roster overrides",
    "roster": "rosters",
    "roster_shift": "roster shifts",
    "roster_preference": "roster preferences",
    "leave": "leave",
    "escalation_policy": "escalation policies",
    "escalation_level": "escalation levels",
    "service": "services",
    "ci": "configuration items",
    "ci_relation": "CI relations",
    "team": "teams",
    "team_member": "team members",
    "person": "people",
    "sla_definition": "SLA definitions",
    "business_schedule": "business-hours schedules",
    "business_hours": "business hours",
    "holiday": "holidays",
    "kpi_target": "KPI targets",
    "app_user": "console users",
    "country": "countries",
    "priority_rule": "the priority matrix",
    "risk_question": "the risk questionnaire",
    "risk_option": "the risk questionnaire",
    "saved_view": "saved views",
    "audit_log": "the audit log",
    "alembic_version": "the schema version",
}

_VERBS = {"INSERT": "add", "UPDATE": "change", "DELETE": "delete", "SELECT": "read"}
_ARTICLES = {
    Role.VIEWER.value: "a viewer",
    Role.AGENT.value: "an agent",
    Role.CHANGE_MANAGER.value: "a change manager",
    Role.SERVICE_MANAGER.value: "a service manager",
    Role.ADMIN.value: "an admin",
}
_ROLE_CHOICES = ", ".join(Role(r).label for r in GROUP_ROLES)
_DENIED = re.compile(r'permission denied for (table|relation|sequence|view|schema) "?([\w.]+)"?')
AUTHORISATION_MESSAGE = "permission denied: only change managers may authorise changes"


def noun(table: str) -> str:
    """What a person calls the rows of ``table``: ``vendors`` for ``vendor``."""
    return _NOUNS.get(table, f"{table.replace('_', ' ')} records")


def _join_or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _who_may(table: str, privilege: str) -> str:
    roles = [r for r in GROUP_ROLES if privilege in rights(r, table)]
    if not roles:
        return "nobody but the owner of the database may"
    return f"{_join_or([_ARTICLES[r] for r in roles])} may"


def _describe_role(role: str | Iterable[str] | None) -> str:
    roles = _roles(role)
    if not roles or roles == {NO_ROLE}:
        return "Your database user (in no Servicedeck role)" if roles else "Your role"
    shown = [Role(r).label if r in GROUP_ROLES else r for r in sorted(roles)]
    return f"Your role ({', '.join(shown)})"


def _sqlstate(exc: BaseException) -> tuple[str | None, str, str | None]:
    """(SQLSTATE, primary message, SQL statement) of a psycopg or SQLAlchemy error."""
    statement = getattr(exc, "statement", None)
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    diag = getattr(orig, "diag", None)
    message = (getattr(diag, "message_primary", None) if diag is not None else None) or str(orig)
    return code, message.strip().splitlines()[0] if message.strip() else "", statement


def _command(statement: str | None) -> str | None:
    if not statement:
        return None
    words = re.findall(r"[A-Za-z]+", statement[:200])
    for word in words:
        if word.upper() in _VERBS:
            return word.upper()
    return None


def missing_right(exc: BaseException, role: str | Iterable[str] | None = None) -> str | None:
    """The sentence to show for a write the database refused, or None for other errors.

    ``exc`` is a psycopg ``InsufficientPrivilege`` or the SQLAlchemy error wrapping it;
    ``role`` is what :func:`role_of` said. For example "Your role (agent) may not change
    vendors (the database refused UPDATE on vendor); a service manager may."
    """
    code, message, statement = _sqlstate(exc)
    if code != "42501":
        return None
    who = _describe_role(role)
    if "authorise changes" in message:
        return (
            f"{who} may not authorise changes: only a change manager may move a normal or "
            "emergency change past Authorize."
        )
    found = _DENIED.search(message)
    if found is None:
        return f"{who} may not do that: the database said “{message}”."
    kind, name = found.groups()
    name = name.rsplit(".", 1)[-1]
    if kind == "schema":
        return (
            f"{who} may not use the schema {name}; the database's owner should run "
            "servicedeck db init."
        )
    privilege = _command(statement)
    if kind == "sequence":
        table = re.sub(r"_[a-z0-9]+_seq$", "", name)
        privilege = "INSERT"
    else:
        table = name
    what = noun(table)
    if privilege is None:
        return f"{who} may not write to {what} (the database refused access to {table})."
    if table == "audit_log" and privilege in ("UPDATE", "DELETE"):
        return (
            f"{who} may not {_VERBS[privilege]} audit rows: the audit log is append-only; "
            "nobody but the owner of the database may change or delete its rows."
        )
    return (
        f"{who} may not {_VERBS[privilege]} {what} (the database refused {privilege} on "
        f"{table}); {_who_may(table, privilege)}."
    )


# --- provisioning -------------------------------------------------------------------


class RoleError(DatabaseError):
    """Roles could not be set up or a user not added; ``str(err)`` says why."""


@dataclass
class InitReport:
    """What :func:`init_database` did, one line per step."""

    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.lines)


_USERNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.@-]{0,62}$")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _open(url: str | URL | None):
    """The database at ``url`` (PostgreSQL only), connected but neither checked nor upgraded.

    The schema is looked at only after the user's rights are, so that a user without
    them hears that rather than "permission denied for table alembic_version".
    """
    from sqlalchemy.exc import DBAPIError

    from app.db.engine import Database, _unavailable, make_engine
    from app.db.url import resolve_url

    resolved = url if isinstance(url, URL) else resolve_url(url)
    if resolved.get_backend_name() != "postgresql":
        raise RoleError(
            "database roles need a shared PostgreSQL database (--db postgresql+psycopg://…); "
            "a SQLite file has no users to give roles to."
        )
    engine = make_engine(resolved)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        engine.dispose()
        raise _unavailable(resolved, exc) from None
    return Database(resolved, engine)


def _check_can_manage_roles(conn: Connection, what: str) -> str:
    """The current user's name; RoleError unless it may create roles."""
    user, superuser, createrole = conn.execute(
        text("SELECT rolname, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
    ).one()
    if not (superuser or createrole):
        raise RoleError(
            f"the database user {user} may not create roles, so it cannot {what}; connect as "
            "the database's owner with CREATEROLE (or a superuser)."
        )
    return user


def _check_owner(conn: Connection, user: str) -> None:
    """RoleError when the tables already belong to someone else (GRANTs would fail)."""
    owner = conn.execute(
        text(
            "SELECT pg_get_userbyid(c.relowner) FROM pg_class c "
            "WHERE c.oid = to_regclass('incident') "
            "AND NOT pg_has_role(current_user, c.relowner, 'USAGE')"
        )
    ).scalar()
    if owner is not None:
        raise RoleError(
            f"the tables belong to {owner}, not {user}; run servicedeck db init as {owner}."
        )


def _existing_roles(conn: Connection) -> set[str]:
    return set(
        conn.execute(
            text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"),
            {"names": list(GROUP_ROLES.values())},
        ).scalars()
    )


def _create_groups(conn: Connection, report: InitReport) -> None:
    existing = _existing_roles(conn)
    for role, group in GROUP_ROLES.items():
        if group in existing:
            conn.exec_driver_sql(f"ALTER ROLE {_quote(group)} NOLOGIN")
            report.lines.append(f"role {group} ({Role(role).label}) already there")
        else:
            conn.exec_driver_sql(f"CREATE ROLE {_quote(group)} NOLOGIN")
            report.lines.append(f"role {group} ({Role(role).label}) created")


_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION servicedeck_change_authorisation() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    authorised CONSTANT text[] := ARRAY[{states}];
BEGIN
    IF NOT (NEW.state = ANY (authorised)) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.state = ANY (authorised) THEN
        RETURN NEW;  -- authorised before: implementing, reviewing or closing it is not
    END IF;
    IF NEW.type = 'Standard' AND NEW.template_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR OLD.type = 'Standard' OR OLD.state = 'New') THEN
        RETURN NEW;  -- a standard change is pre-authorised by its template
    END IF;
    IF pg_has_role(current_user, {authoriser}, 'USAGE')
       OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID),
                      'USAGE') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = {message},
        DETAIL = format('%s (%s) would go from %s to %s as %s.', NEW.number, NEW.type,
                        CASE WHEN TG_OP = 'UPDATE' THEN OLD.state ELSE 'nothing' END,
                        NEW.state, current_user),
        HINT = 'A member of {group} may authorise it.';
END
$fn$
"""


def _install_authorisation_guard(conn: Connection, report: InitReport) -> None:
    group = GROUP_ROLES[AUTHORISERS[0]]
    conn.exec_driver_sql(
        _TRIGGER_FUNCTION.format(
            states=", ".join(_literal(s) for s in AUTHORISED_STATES),
            authoriser=_literal(group),
            message=_literal(AUTHORISATION_MESSAGE),
            group=group,
        )
    )
    conn.exec_driver_sql(
        "DROP TRIGGER IF EXISTS servicedeck_change_authorisation ON change_request"
    )
    conn.exec_driver_sql(
        "CREATE TRIGGER servicedeck_change_authorisation "
        "BEFORE INSERT OR UPDATE OF state, type, template_id ON change_request "
        "FOR EACH ROW EXECUTE FUNCTION servicedeck_change_authorisation()"
    )
    report.lines.append(
        "change_request: only change managers may move a normal or emergency change past "
        "Authorize (trigger servicedeck_change_authorisation)"
    )


def _apply_grants(conn: Connection, report: InitReport) -> None:
    schema = conn.execute(text("SELECT current_schema()")).scalar()
    in_db = set(
        conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
    )
    known = set(model_tables())
    tables = sorted(in_db & known)
    unplanned = sorted(in_db - known)
    groups = ", ".join(_quote(g) for g in GROUP_ROLES.values())
    # Start from nothing, so a right taken out of the plan is taken back too.
    conn.exec_driver_sql(
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {_quote(schema)} FROM PUBLIC, {groups}"
    )
    conn.exec_driver_sql(
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {_quote(schema)} FROM PUBLIC, {groups}"
    )
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_quote(schema)} TO {groups}")
    sequences = dict(
        conn.execute(
            text(
                "SELECT c.relname, pg_get_serial_sequence(quote_ident(c.relname), a.attname) "
                "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
                "AND a.attnum > 0 AND NOT a.attisdropped "
                "AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL"
            )
        ).all()
    )
    plan = grant_plan(tables)
    for group, per_table in plan.items():
        by_privileges: dict[frozenset[str], list[str]] = {}
        for table, privileges in per_table.items():
            by_privileges.setdefault(privileges, []).append(table)
        for privileges, names in by_privileges.items():
            order = [p for p in (READ, *WRITE) if p in privileges]
            conn.exec_driver_sql(
                f"GRANT {', '.join(order)} ON {', '.join(_quote(t) for t in names)} "
                f"TO {_quote(group)}"
            )
        writable = sorted(t for t, p in per_table.items() if "INSERT" in p and t in sequences)
        if writable:
            conn.exec_driver_sql(
                f"GRANT USAGE, SELECT ON SEQUENCE {', '.join(sequences[t] for t in writable)} "
                f"TO {_quote(group)}"
            )
    for table in unplanned:
        conn.exec_driver_sql(f"GRANT SELECT ON {_quote(table)} TO {groups}")
    for role, group in GROUP_ROLES.items():
        areas = [
            area
            for area, per_role in AREA_RIGHTS.items()
            if per_role.get(role) and area not in ("personal", "audit")
        ]
        writes = ", ".join(AREAS[a] for a in areas) if areas else "nothing but saved views"
        report.lines.append(f"{group}: reads all {len(tables)} tables; writes {writes}")
    report.lines.append(
        "audit_log: every role may add and read audit rows; nobody but the owner may "
        "change or delete them"
    )
    if unplanned:
        report.lines.append(f"not in the plan, readable only: {', '.join(unplanned)}")


def init_database(url: str | URL | None, admin_user: str | None = None) -> InitReport:
    """Migrate the database at ``url`` and (re)create the group roles and their GRANTs.

    Run as the owner of the database (with CREATEROLE, or a superuser); idempotent:
    a second run changes nothing. With ``admin_user``, that user is added as admin.
    Raises :class:`RoleError` (a DatabaseError) with a sentence on refusal.
    """
    from sqlalchemy.exc import DBAPIError

    from app.db import migrate

    database = _open(url)
    report = InitReport()
    try:
        with database.engine.connect() as conn:
            user = _check_can_manage_roles(conn, "set up roles")
            _check_owner(conn, user)
        before, after = migrate.upgrade(database.engine)
        where = database.describe()
        if before == after:
            report.lines.append(f"{where}: schema up to date ({after})")
        else:
            report.lines.append(f"{where}: schema upgraded from {before or 'empty'} to {after}")
        with database.engine.begin() as conn:
            _create_groups(conn, report)
            _apply_grants(conn, report)
            _install_authorisation_guard(conn, report)
        report.lines.append(f"owner of the tables: {user}")
    except DBAPIError as exc:
        raise RoleError(_refusal(exc, "set up roles")) from None
    finally:
        database.dispose()
    if admin_user:
        report.lines.append(add_user(url, admin_user, Role.ADMIN.value))
    return report


def _refusal(exc: BaseException, what: str) -> str:
    _code, message, _statement = _sqlstate(exc)
    return f"could not {what}: {message}"


def _check_username(username: str) -> str:
    name = (username or "").strip()
    if not _USERNAME.match(name):
        raise RoleError(
            f"'{username}' is not a user name Servicedeck accepts (letters, digits, _ . @ -; "
            "up to 63, not starting with a digit)."
        )
    if name.lower().startswith(PREFIX) or name.lower().startswith("pg_"):
        raise RoleError(f"'{name}' is reserved for the database's own roles.")
    return name


def _require_groups(conn: Connection) -> None:
    missing = set(GROUP_ROLES.values()) - _existing_roles(conn)
    initialised = conn.execute(text("SELECT to_regclass('app_user') IS NOT NULL")).scalar()
    if missing or not initialised:
        raise RoleError(
            "the Servicedeck roles are not set up in this database; run servicedeck db init first."
        )


def _password_sql(conn: Connection, username: str, password: str | None) -> str:
    if password is None:
        return ""
    raw = conn.connection.dbapi_connection
    try:
        hashed = raw.pgconn.encrypt_password(password.encode(), username.encode()).decode()
    except Exception:  # an old libpq: let the server hash it
        hashed = password
    return f" PASSWORD {_literal(hashed)}"


def add_user(
    url: str | URL | None,
    username: str,
    role: str,
    password: str | None = None,
    display_name: str | None = None,
) -> str:
    """Give ``username`` (a LOGIN role, created if missing) the group of ``role``.

    Also creates or updates the console's AppUser row (role, active). The user keeps
    any other Servicedeck role (see :func:`remove_user`). Returns what was done, in words.
    """
    from sqlalchemy.exc import DBAPIError

    from app.models import AppUser

    role = normalise_role(role)
    name = _check_username(username)
    group = GROUP_ROLES[role]
    database = _open(url)
    try:
        with database.session() as session, session.begin():
            conn = session.connection()
            owner = _check_can_manage_roles(conn, "add users")
            _require_groups(conn)
            session.info["username"] = owner
            exists = conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = :n"), {"n": name}
            ).first()
            secret = _password_sql(conn, name, password)
            if exists is None:
                conn.exec_driver_sql(f"CREATE ROLE {_quote(name)} LOGIN{secret}")
                made = "created"
            else:
                conn.exec_driver_sql(f"ALTER ROLE {_quote(name)} LOGIN{secret}")
                made = "already there"
            conn.exec_driver_sql(f"GRANT {_quote(group)} TO {_quote(name)}")
            user = session.scalar(select(AppUser).where(AppUser.username == name))
            if user is None:
                session.add(AppUser(username=name, display_name=display_name or name, role=role))
            else:
                user.role = role
                user.active = True
                if display_name:
                    user.display_name = display_name
    except DBAPIError as exc:
        raise RoleError(_refusal(exc, f"add {name}")) from None
    finally:
        database.dispose()
    label = Role(role).label
    return f"user {name} ({made}) is now {_ARTICLES[role].split()[0]} {label} ({group})"


def remove_user(url: str | URL | None, username: str, role: str | None = None) -> str:
    """Take ``role`` (default: every Servicedeck role) away from ``username``.

    The login role itself is kept (roles are cluster-wide and may serve elsewhere);
    with no Servicedeck role left, the console's AppUser row is made inactive.
    """
    from sqlalchemy.exc import DBAPIError

    from app.models import AppUser

    roles = [normalise_role(role)] if role else list(GROUP_ROLES)
    name = _check_username(username)
    database = _open(url)
    try:
        with database.session() as session, session.begin():
            conn = session.connection()
            owner = _check_can_manage_roles(conn, "remove users")
            _require_groups(conn)
            session.info["username"] = owner
            if (
                conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
                is None
            ):
                raise RoleError(f"there is no database user {name}.")
            for one in roles:
                conn.exec_driver_sql(f"REVOKE {_quote(GROUP_ROLES[one])} FROM {_quote(name)}")
            left = (
                conn.execute(
                    text(
                        "SELECT r.rolname FROM pg_auth_members m "
                        "JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
                        "WHERE u.rolname = :n AND r.rolname = ANY(:groups) ORDER BY r.rolname"
                    ),
                    {"n": name, "groups": list(GROUP_ROLES.values())},
                )
                .scalars()
                .all()
            )
            user = session.scalar(select(AppUser).where(AppUser.username == name))
            if user is not None:
                if not left:
                    user.active = False
                elif user.role not in {g.removeprefix(PREFIX) for g in left}:
                    user.role = left[0].removeprefix(PREFIX)
    except DBAPIError as exc:
        raise RoleError(_refusal(exc, f"remove {name}")) from None
    finally:
        database.dispose()
    taken = ", ".join(Role(r).label for r in roles)
    rest = ", ".join(Role(g.removeprefix(PREFIX)).label for g in left) or "no Servicedeck role"
    return f"user {name}: {taken} taken away; now {rest}"
