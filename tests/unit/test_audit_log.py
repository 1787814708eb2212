"""The audit log read back: search by each filter, a record's history, labels, export."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook

from app.db import Identity
from app.models import UTC, Team
from app.services import audit_log as al
from app.services import incidents as wf
from app.services import vendors
from app.services.audit_log import AuditFilter, AuditSort
from app.services.incidents import IncidentInput
from app.services.progress import Cancelled, Progress

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


@pytest.fixture
def clock(monkeypatch):
    """The audit hook's clock, moved by the test."""
    now = [T0]
    monkeypatch.setattr("app.db.audit.utcnow", lambda: now[0])
    return now


def as_user(db, username: str) -> None:
    db.identity = Identity(username=username, display_name=username)


@pytest.fixture
def edited(db, clock):
    """Known edits made through the services, by three users on three days."""
    ids: dict[str, int] = {}
    as_user(db, "alex.kim")
    with db.transaction() as s:
        network, storage = Team(name="Network"), Team(name="Storage")
        s.add_all([network, storage])
        s.flush()
        ids["network"], ids["storage"] = network.id, storage.id
        first = wf.new_incident(s, IncidentInput(short_description="VPN drops every hour"), now=T0)
        second = wf.new_incident(
            s, IncidentInput(short_description="Printer jams on floor 3"), now=T0
        )
        ids["first"], ids["second"] = first.id, second.id
        ids["vendor"] = vendors.save_vendor(s, None, {"name": "Contoso", "category": "Network"})
    clock[0] = T0 + D
    as_user(db, "dana.ortiz")
    with db.transaction() as s:
        incident = wf.assign(s, ids["first"], None, ids["network"])
        wf.update_incident(s, ids["first"], incident.version, {"short_description": "VPN drops"})
    clock[0] = T0 + D + H
    with db.transaction() as s:
        wf.assign(s, ids["first"], None, ids["storage"])
    clock[0] = T0 + 2 * D
    as_user(db, "eli.park")
    with db.transaction() as s:
        vendors.save_vendor(s, ids["vendor"], {"website": "https://contoso.example"})
        wf.update_incident(s, ids["second"], None, {"impact": 1, "urgency": 1})
    return ids


def search(db, filt: AuditFilter, sort: AuditSort = al.DEFAULT_SORT) -> list[al.AuditRow]:
    with db.session() as s:
        return al.search(s, filt, sort, 0, 1000, zone=UTC)


def count(db, filt: AuditFilter) -> int:
    with db.session() as s:
        return al.count(s, filt)


def test_labels_are_human(db, edited):
    rows = search(db, AuditFilter(field="assignment_group_id"))
    assert [(r.record_label, r.field_label, r.old_shown, r.new_shown) for r in rows] == [
        ("INC0000001", "Assignment group", "Network", "Storage"),
        ("INC0000001", "Assignment group", None, "Network"),
    ]
    vendor = search(db, AuditFilter(table="vendor", field="website"))[0]
    assert vendor.record_label == "vendor Contoso"
    assert (vendor.old_shown, vendor.new_shown, vendor.who) == (
        None,
        "https://contoso.example",
        "eli.park",
    )
    priority = search(db, AuditFilter(record="INC0000002", field="priority"))[0]
    assert priority.old_shown.startswith("P") and priority.new_shown == "P1"


def test_filter_by_who(db, edited):
    rows = search(db, AuditFilter(who="dana"))
    assert rows and {r.who for r in rows} == {"dana.ortiz"}
    assert count(db, AuditFilter(who="DANA")) == len(rows)
    assert count(db, AuditFilter(who="nobody")) == 0


def test_filter_by_table(db, edited):
    rows = search(db, AuditFilter(table="vendor"))
    assert {r.table for r in rows} == {"vendor"}
    assert {r.action for r in rows} == {"insert", "update"}
    assert count(db, AuditFilter(table="team")) == 2


def test_filter_by_record_number_name_and_id(db, edited):
    by_number = search(db, AuditFilter(record="INC0000001"))
    assert {r.record_id for r in by_number} == {str(edited["first"])}
    assert {r.table for r in by_number} == {"incident"}
    # Numbers are matched whatever their case.
    assert count(db, AuditFilter(record="inc0000001")) == len(by_number)
    by_name = search(db, AuditFilter(record="contoso"))
    assert {(r.table, r.record_id) for r in by_name} == {("vendor", str(edited["vendor"]))}
    by_id = search(db, AuditFilter(table="incident", record=str(edited["second"])))
    assert {r.record_label for r in by_id} == {"INC0000002"}
    assert count(db, AuditFilter(record="INC9999999")) == 0


def test_filter_by_field(db, edited):
    rows = search(db, AuditFilter(field="short_description"))
    assert [(r.old_value, r.new_value) for r in rows] == [("VPN drops every hour", "VPN drops")]


def test_filter_by_text_in_old_or_new_values(db, edited):
    assert [r.new_value for r in search(db, AuditFilter(text="contoso.EXAMPLE"))] == [
        "https://contoso.example"
    ]
    old = search(db, AuditFilter(text="every hour"))
    assert [r.field for r in old] == ["short_description"]
    # Wildcards are text, not patterns.
    assert count(db, AuditFilter(text="%")) == 0
    assert count(db, AuditFilter(text="_")) == 0


def test_filter_by_date_range(db, edited):
    day_two = search(db, AuditFilter(start=T0 + D, end=T0 + 2 * D))
    assert day_two and {r.who for r in day_two} == {"dana.ortiz"}
    assert all(T0 + D <= r.at < T0 + 2 * D for r in day_two)
    later = search(db, AuditFilter(start=T0 + 2 * D))
    assert {r.who for r in later} == {"eli.park"}
    assert count(db, AuditFilter(end=T0)) == 0


def test_filters_combine(db, edited):
    rows = search(db, AuditFilter(who="dana", record="INC0000001", field="assignment_group_id"))
    assert len(rows) == 2
    assert count(db, AuditFilter(who="eli", record="INC0000001")) == 0


def test_sort_and_windows(db, edited):
    newest = search(db, AuditFilter())
    assert [r.at for r in newest] == sorted((r.at for r in newest), reverse=True)
    oldest = search(db, AuditFilter(), AuditSort("at", descending=False))
    assert [r.id for r in oldest] == [r.id for r in newest][::-1]
    by_who = search(db, AuditFilter(), AuditSort("who", descending=False))
    assert [r.who for r in by_who] == sorted(r.who for r in by_who)
    total = len(newest)
    with db.session() as s:
        # Every window, read forwards or (second half) backwards, is the same slice.
        for offset in range(0, total, 3):
            window = al.search(s, AuditFilter(), al.DEFAULT_SORT, offset, 3, total=total)
            assert [r.id for r in window] == [r.id for r in newest[offset : offset + 3]]


def test_history_is_oldest_first(db, edited):
    with db.session() as s:
        rows = al.history(s, "incident", edited["first"], zone=UTC)
        label = al.record_label(s, "incident", edited["first"])
    assert label == "INC0000001"
    assert rows[0].action == "insert"
    assert [(r.at, r.id) for r in rows] == sorted((r.at, r.id) for r in rows)
    groups = [r.new_shown for r in rows if r.field == "assignment_group_id"]
    assert groups == ["Network", "Storage"]
    assert {r.record_label for r in rows} == {"INC0000001"}


def test_a_deleted_record_keeps_its_name(db, clock):
    with db.transaction() as s:
        vendor_id = vendors.save_vendor(s, None, {"name": "Gone Ltd"})
    with db.transaction() as s:
        from app.models import Vendor

        s.delete(s.get(Vendor, vendor_id))
    with db.session() as s:
        rows = al.history(s, "vendor", vendor_id)
        found = al.search(s, AuditFilter(record="Gone Ltd"))
    assert [r.action for r in rows] == ["insert", "delete"]
    assert {r.record_label for r in rows} == {"vendor Gone Ltd"}
    assert {r.action for r in found} == {"insert", "delete"}


def test_choices(db, edited):
    with db.session() as s:
        choices = al.choices(s)
    assert choices.users == ["alex.kim", "dana.ortiz", "eli.park"]
    assert ("incident", "incident") in choices.tables
    assert ("change_request", "change") in choices.tables
    fields = dict(choices.fields["incident"])
    assert fields["assignment_group_id"] == "Assignment group"
    assert "version" not in fields


def test_export_reopens_with_openpyxl(db, edited, tmp_path):
    path = tmp_path / "audit.xlsx"
    seen: list[tuple[int, int, str]] = []
    with db.session() as s:
        written = al.export(
            s,
            AuditFilter(record="INC0000001"),
            path,
            Progress(lambda *args: seen.append(args)),
            zone=UTC,
        )
    assert written == count(db, AuditFilter(record="INC0000001"))
    ws = load_workbook(path)["Audit log"]
    rows = list(ws.values)
    assert rows[0][:8] == (
        "When",
        "Who",
        "Record type",
        "Record",
        "Action",
        "Field",
        "Old value",
        "New value",
    )
    assert len(rows) == written + 1
    assert ws.freeze_panes == "A2"
    assert isinstance(rows[1][0], dt.datetime)
    assert rows[1][0] == (T0 + D + H).replace(tzinfo=None)
    group = next(row for row in rows[1:] if row[10] == "assignment_group_id" and row[6])
    assert group[1:8] == (
        "dana.ortiz",
        "incident",
        "INC0000001",
        "Changed",
        "Assignment group",
        "Network",
        "Storage",
    )
    assert seen and seen[-1][0] == written


def test_export_writes_risky_text_as_text(db, clock, tmp_path):
    with db.transaction() as s:
        vendors.save_vendor(s, None, {"name": "=HYPERLINK(1)"})
    path = tmp_path / "audit.xlsx"
    with db.session() as s:
        al.export(s, AuditFilter(table="vendor"), path)
    cell = load_workbook(path)["Audit log"]["D2"]
    assert cell.value == "vendor =HYPERLINK(1)"
    new_value = load_workbook(path)["Audit log"]["H2"]
    assert new_value.value == "=HYPERLINK(1)" and new_value.data_type == "s"


def test_cancelled_export_leaves_the_old_file(db, edited, tmp_path):
    path = tmp_path / "audit.xlsx"
    path.write_bytes(b"old")
    progress = Progress()
    progress.cancel()
    with db.session() as s, pytest.raises(Cancelled):
        al.export(s, AuditFilter(), path, progress)
    assert path.read_bytes() == b"old"
    assert list(tmp_path.glob("*.part")) == []


def test_labels_of_fields_and_tables():
    assert al.field_label("assignment_group_id") == "Assignment group"
    assert al.field_label("ci_id") == "CI"
    assert al.field_label("resolved_at") == "Resolved at"
    assert al.table_label("change_request") == "change"
    assert al.table_label("vendor_contact") == "vendor contact"
    with pytest.raises(ValueError):
        AuditSort("old_value")
