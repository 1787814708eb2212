"""Group roles and GRANTs on a real PostgreSQL server: the database enforces the split of duties."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from app.cli import main
from app.db import open_database
from app.db import roles as R
from app.models import (
    AppUser,
    AuditEntry,
    CabMeeting,
    ChangeRequest,
    ChangeTemplate,
    Incident,
    OnCallSchedule,
    PriorityRule,
    SavedView,
    Service,
    Vendor,
)
from app.models.base import Base

pytestmark = pytest.mark.pg

USERS = {
    "viewer": "rv_viewer",
    "agent": "rv_agent",
    "change_manager": "rv_cm",
    "service_manager": "rv_sm",
    "admin": "rv_admin",
}
AGENTS = {"agent", "change_manager", "service_manager"}
EVERYONE = set(USERS)


class _Rollback(Exception):
    pass


def _grants(url: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT grantee, table_name, privilege_type FROM "
                    "information_schema.role_table_grants WHERE grantee LIKE 'servicedeck_%' "
                    "ORDER BY 1, 2, 3"
                )
            ).all()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def shared(pg_server):
    """One database after ``db init``, with a few rows and a user per role."""
    name = "t_roles_shared"
    url = pg_server.create_database(name)
    first = R.init_database(url)
    assert any("upgraded from empty" in line for line in first.lines)
    owner = open_database(url)
    with owner.transaction() as s:
        template = ChangeTemplate(name="Restart", description="", risk="Low")
        s.add(template)
        s.flush()
        ids = {"template": template.id}
        for key, obj in {
            "incident": Incident(number="INC1", short_description="Mail down"),
            "vendor": Vendor(name="Acme"),
            "normal": ChangeRequest(number="CHG1", short_description="Patch", state="Authorize"),
            "standard": ChangeRequest(
                number="CHG2",
                short_description="Restart",
                type="Standard",
                template_id=template.id,
            ),  # fmt: skip
            "meeting": CabMeeting(
                title="CAB",
                starts_at=dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC),
                ends_at=dt.datetime(2026, 1, 5, 11, tzinfo=dt.UTC),
            ),  # fmt: skip
            "schedule": OnCallSchedule(name="Primary"),
            "service": Service(name="Mail"),
        }.items():
            s.add(obj)
            s.flush()
            ids[key] = obj.id
    with owner.session() as s:
        ids["audit"] = s.scalar(select(AuditEntry.id).limit(1))
        ids["rule"] = s.scalar(select(PriorityRule.id).limit(1))  # seeded by the migrations
    for role, user in USERS.items():
        R.add_user(url, user, role)
    with owner.session() as s:
        ids.update({u.username: u.id for u in s.scalars(select(AppUser))})
    users = {role: open_database(pg_server.url(name, user)) for role, user in USERS.items()}
    yield {"url": url, "name": name, "owner": owner, "users": users, "ids": ids}
    for database in users.values():
        database.dispose()
    owner.dispose()


def _attempt(database, work) -> DBAPIError | None:
    """Run ``work(session)`` as the database's user and roll back; the refusal, if any."""
    session = database.session()
    try:
        with session.begin():
            work(session)
            session.flush()
            raise _Rollback
    except _Rollback:
        return None
    except DBAPIError as exc:
        return exc
    finally:
        session.close()


def _set(model, key, **values):
    def work(s, ids):
        obj = s.get(model, ids[key])
        for name, value in values.items():
            setattr(obj, name, value)

    return work


def _add(make):
    return lambda s, ids: s.add(make(ids))


def _delete(model, key):
    return lambda s, ids: s.delete(s.get(model, ids[key]))


#: (what, console action or None, work, roles that may)
CASES = [
    ("read incidents", "view", lambda s, ids: s.scalars(select(Incident)).all(), EVERYONE),
    ("edit an incident", "edit_incident", _set(Incident, "incident", short_description="x"),
     AGENTS),
    ("add an incident", "edit_incident",
     _add(lambda ids: Incident(number="INC9", short_description="New")), AGENTS),
    ("delete an incident", None, _delete(Incident, "incident"), set()),
    ("edit a change", "edit_change", _set(ChangeRequest, "normal", description="more"), AGENTS),
    ("authorise a change", "authorise_change",
     _set(ChangeRequest, "normal", state="Scheduled"), {"change_manager"}),
    ("schedule a standard change", "edit_change",
     _set(ChangeRequest, "standard", state="Scheduled"), AGENTS),
    ("raise an authorised change", "authorise_change",
     _add(lambda ids: ChangeRequest(number="CHG9", short_description="x", state="Implement")),
     {"change_manager"}),
    ("edit a CAB meeting", "run_cab", _set(CabMeeting, "meeting", minutes="ok"),
     {"change_manager"}),
    ("edit a vendor", "edit_vendor", _set(Vendor, "vendor", name="Acme Ltd"),
     {"service_manager"}),
    ("add a vendor", "edit_vendor", _add(lambda ids: Vendor(name="Beta")), {"service_manager"}),
    ("edit a roster", "edit_roster", _set(OnCallSchedule, "schedule", description="x"),
     {"service_manager"}),
    ("edit a service", "edit_service", _set(Service, "service", description="x"),
     {"service_manager"}),
    ("edit a console user", "admin", _set(AppUser, "rv_viewer", display_name="V"), {"admin"}),
    ("edit the priority matrix", "admin", _set(PriorityRule, "rule", priority=2), {"admin"}),
    ("save a view", "save_view",
     _add(lambda ids: SavedView(user_id=ids["rv_viewer"], page="q", name="n", definition="{}")),
     EVERYONE),
    ("add an audit row", None,
     _add(lambda ids: AuditEntry(username="x", entity="x", entity_id="1", action="insert")),
     EVERYONE),
    ("change an audit row", None, _set(AuditEntry, "audit", new_value="forged"), set()),
    ("delete an audit row", None, _delete(AuditEntry, "audit"), set()),
]  # fmt: skip


@pytest.mark.parametrize(("what", "action", "work", "allowed"), CASES, ids=[c[0] for c in CASES])
def test_each_role_does_exactly_what_it_should(shared, what, action, work, allowed):
    ids = shared["ids"]
    outcome = {
        role: _attempt(database, lambda s, w=work: w(s, ids))
        for role, database in shared["users"].items()
    }
    may = {role for role, exc in outcome.items() if exc is None}
    assert may == allowed, {role: str(exc).splitlines()[0] for role, exc in outcome.items() if exc}
    for role, exc in outcome.items():
        if exc is not None:
            assert exc.orig.sqlstate == "42501", exc  # refused for a right, nothing else
            assert R.missing_right(exc, role).startswith(f"Your role ({R.Role(role).label})")
    if action is not None:
        assert {role for role in USERS if R.can(role, action)} == allowed
    # The owner may do everything, including rewriting the audit log.
    assert _attempt(shared["owner"], lambda s: work(s, ids)) is None


def test_missing_right_names_the_right_in_a_sentence(shared):
    agent, ids = shared["users"]["agent"], shared["ids"]
    with agent.session() as s:
        role = R.role_of(s)
    exc = _attempt(agent, lambda s: _set(Vendor, "vendor", name="Nope")(s, ids))
    assert R.missing_right(exc, role) == (
        "Your role (agent) may not change vendors (the database refused UPDATE on vendor); "
        "a service manager may."
    )
    exc = _attempt(agent, lambda s: _set(ChangeRequest, "normal", state="Scheduled")(s, ids))
    assert R.missing_right(exc, role) == (
        "Your role (agent) may not authorise changes: only a change manager may move a normal "
        "or emergency change past Authorize."
    )
    exc = _attempt(shared["users"]["viewer"], lambda s: s.add(Vendor(name="V")))
    assert R.missing_right(exc, "viewer").startswith("Your role (viewer) may not add vendors")
    exc = _attempt(shared["users"]["admin"], _delete_audit(ids))
    assert "append-only" in R.missing_right(exc, "admin")
    exc = _attempt(shared["users"]["admin"], lambda s: s.execute(text("TRUNCATE audit_log")))
    assert exc is not None and exc.orig.sqlstate == "42501"
    assert R.missing_right(ValueError("x")) is None
    bad = _attempt(shared["owner"], lambda s: s.execute(text("SELECT 1/0")))
    assert R.missing_right(bad, "owner") is None


def _delete_audit(ids):
    return lambda s: s.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": ids["audit"]})


def test_role_of_reads_the_membership(shared, db):
    for role, database in shared["users"].items():
        with database.session() as s:
            assert R.role_of(s) == role
            assert R.roles_of(s) == {role}
    with shared["owner"].session() as s:
        assert R.role_of(s) == "owner"
    with db.session() as s:  # SQLite: no database roles, everything allowed
        assert R.role_of(s) is None
    assert R.can(None, "authorise_change") and R.can("owner", "admin")
    assert not R.can("none", "view")
    assert R.can({"change_manager", "service_manager"}, "edit_vendor")
    with pytest.raises(KeyError):
        R.can("agent", "fly")


def test_init_is_idempotent_and_says_what_it_did(shared, capsys):
    before = _grants(shared["url"])
    assert main(["db", "init", "--db", shared["url"]]) == 0
    out = capsys.readouterr().out
    assert "schema up to date" in out
    assert "role servicedeck_agent (agent) already there" in out
    assert "only change managers may move" in out
    assert _grants(shared["url"]) == before
    # Group roles cannot sign in; nothing but SELECT, INSERT, UPDATE, DELETE is granted.
    engine = create_engine(shared["url"])
    with engine.connect() as conn:
        logins = conn.execute(
            text("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'servicedeck_%' AND rolcanlogin")
        ).scalar()
        audit = conn.execute(
            text(
                "SELECT DISTINCT privilege_type FROM information_schema.role_table_grants "
                "WHERE table_name = 'audit_log' AND grantee <> 'postgres'"
            )
        ).scalars()
        assert set(audit) == {"SELECT", "INSERT"}
    engine.dispose()
    assert logins == 0
    assert {p for _g, _t, p in before} == {"SELECT", "INSERT", "UPDATE", "DELETE"}


def test_add_user_and_remove_user_on_the_command_line(shared, pg_server, monkeypatch, capsys):
    url = shared["url"]
    answers = iter(["s3cret", "s3cret"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["db", "add-user", "--db", url, "--user", "cli_cm",
                 "--role", "change manager", "--password-prompt"]) == 0  # fmt: skip
    assert "cli_cm (created) is now a change manager" in capsys.readouterr().out
    database = open_database(pg_server.url(shared["name"], "cli_cm"))
    try:
        with database.session() as s:
            assert R.role_of(s) == "change_manager"
            user = s.scalar(select(AppUser).where(AppUser.username == "cli_cm"))
            assert (user.role, user.active) == ("change_manager", True)
        with shared["owner"].session() as s:
            hashed = s.execute(
                text("SELECT rolpassword FROM pg_authid WHERE rolname = 'cli_cm'")
            ).scalar()
            assert hashed.startswith("SCRAM-SHA-256$")  # never stored in clear
        assert main(["db", "remove-user", "--db", url, "--user", "cli_cm"]) == 0
        assert "now no Servicedeck role" in capsys.readouterr().out
        with database.session() as s:
            assert R.role_of(s) == "none"
        with shared["owner"].session() as s:
            user = s.scalar(select(AppUser).where(AppUser.username == "cli_cm"))
            assert user.active is False
    finally:
        database.dispose()


def test_bad_input_exits_1_with_one_line(shared, pg_server, tmp_path, monkeypatch, capsys):
    url = shared["url"]
    as_agent = pg_server.url(shared["name"], USERS["agent"])
    sqlite = str(tmp_path / "local.db")
    empty = pg_server.create_database("t_roles_empty")
    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    cases = [
        (["db", "add-user", "--db", url, "--user", "x1", "--role", "auditor"], "no role 'auditor'"),
        (["db", "add-user", "--db", sqlite, "--user", "x1", "--role", "agent"], "PostgreSQL"),
        (["db", "init", "--db", sqlite], "a SQLite file has no users"),
        (["db", "init", "--db", as_agent], "rv_agent may not create roles"),
        (["db", "add-user", "--db", as_agent, "--user", "x1", "--role", "agent"],
         "may not create roles"),
        (["db", "add-user", "--db", url, "--user", "servicedeck_admin", "--role", "agent"],
         "reserved"),
        (["db", "add-user", "--db", url, "--user", "bad name", "--role", "agent"],
         "not a user name"),
        (["db", "add-user", "--db", url, "--user", "x1", "--role", "agent",
          "--password-prompt"], "passwords differ"),
        (["db", "remove-user", "--db", url, "--user", "ghost"], "no database user ghost"),
        (["db", "add-user", "--db", empty, "--user", "x1", "--role", "agent"],
         "run servicedeck db init first"),
    ]  # fmt: skip
    for argv, expected in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("servicedeck: ") and "\n" not in err, err
        assert expected in err, (argv, err)


def test_init_as_a_non_superuser_owner(pg_server):
    """The usual set-up: a database owned by a CREATEROLE user, not a superuser."""
    admin = create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE ROLE deck_owner LOGIN CREATEROLE")
        conn.exec_driver_sql("CREATE DATABASE t_roles_owned OWNER deck_owner")
        conn.exec_driver_sql("CREATE ROLE other_owner LOGIN CREATEROLE")
    admin.dispose()
    url = pg_server.url("t_roles_owned", "deck_owner")
    report = R.init_database(url, admin_user="deck_admin")
    assert "schema upgraded from empty" in str(report)
    assert "deck_admin (created) is now an admin" in str(report)
    with pytest.raises(R.RoleError, match="belong to deck_owner"):
        R.init_database(pg_server.url("t_roles_owned", "other_owner"))
    for user, expected in (("deck_owner", "owner"), ("deck_admin", "admin")):
        database = open_database(pg_server.url("t_roles_owned", user))
        try:
            with database.session() as s:
                assert R.role_of(s) == expected
        finally:
            database.dispose()


def test_every_table_of_the_model_is_in_the_plan():
    tables = set(Base.metadata.tables)
    assert tables - set(R.TABLE_AREAS) == set(), "give each new table an area in roles.py"
    assert set(R.TABLE_AREAS.values()) <= set(R.AREAS) == set(R.AREA_RIGHTS)
    assert {area for area, _p in R.ACTIONS.values()} <= set(R.AREAS)
    plan = R.grant_plan()
    assert plan["servicedeck_viewer"]["incident"] == {"SELECT"}
    assert all("UPDATE" not in per["audit_log"] for per in plan.values())
    assert all("DELETE" not in per["incident"] for per in plan.values())
    assert R.normalise_role("Change-Manager") == "change_manager"
    assert R.normalise_role("servicedeck_admin") == "admin"
