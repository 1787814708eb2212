"""Reading ServiceNow and JSM exports into an ImportPlan (no database)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.services.io.importer import (
    ISO_8601,
    AmbiguousDateFormat,
    DateGuess,
    detect_date_format,
    detect_source,
    fields_for,
    format_label,
    load_mapping,
    preview_rows,
    propose_mapping,
    read_plan,
    read_table,
    save_mapping,
)
from app.services.io.records import ImportFileError, ImportSource
from app.services.progress import Cancelled, Progress

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("servicenow_list.csv", ImportSource.SERVICENOW_LIST),
        ("servicenow_list.xlsx", ImportSource.SERVICENOW_LIST),
        ("servicenow_eventlog.csv", ImportSource.SERVICENOW_EVENTS),
        ("jsm_export.csv", ImportSource.JSM),
        ("servicenow_list_ambiguous.csv", ImportSource.SERVICENOW_LIST),
    ],
)
def test_detects_the_source_of_each_sample(name: str, source: ImportSource) -> None:
    assert detect_source(read_table(DATA / name).headers) is source


def test_unknown_headers_are_no_source() -> None:
    assert detect_source(["id", "title", "when"]) is None


def test_mapping_is_proposed_from_field_names_and_labels() -> None:
    headers = read_table(DATA / "servicenow_list.xlsx").headers
    mapping = propose_mapping(ImportSource.SERVICENOW_LIST, headers)
    assert mapping["number"] == "Number"
    assert mapping["assignee"] == "Assigned to"
    assert mapping["opened_at"] == "Opened"
    events = propose_mapping(
        ImportSource.SERVICENOW_EVENTS, read_table(DATA / "servicenow_eventlog.csv").headers
    )
    assert events["state"] == "incident_state"
    assert events["updated_at"] == "sys_updated_at"
    assert events["short_description"] is None
    assert events["resolution_code"] == "closed_code"
    jsm = propose_mapping(ImportSource.JSM, read_table(DATA / "jsm_export.csv").headers)
    assert jsm["number"] == "Issue key"
    assert jsm["impact"] == "Custom field (Impact)"
    assert jsm["opened_at"] == "Created"
    assert set(jsm) == {f.name for f in fields_for(ImportSource.JSM)}


def test_fields_have_labels_and_required_flags() -> None:
    specs = {f.name: f for f in fields_for(ImportSource.SERVICENOW_LIST)}
    assert specs["number"].required and specs["opened_at"].required
    assert specs["short_description"].required
    assert not specs["assignee"].required
    events = {f.name: f for f in fields_for(ImportSource.SERVICENOW_EVENTS)}
    assert not events["short_description"].required
    assert "issue_type" in {f.name for f in fields_for(ImportSource.JSM)}


# --------------------------------------------------------------------------- list exports


def test_servicenow_list_csv_values_states_and_hold_reasons() -> None:
    plan = read_plan(DATA / "servicenow_list.csv", tz=UTC)
    assert plan.source is ImportSource.SERVICENOW_LIST
    assert plan.date_format == "%Y-%m-%d %H:%M:%S"
    assert plan.rows_read == 7
    by = {i.number: i for i in plan.incidents}
    assert [i.number for i in plan.incidents] == [f"INC001000{k}" for k in range(1, 8)]
    first = by["INC0010001"]
    assert first.state == "New" and first.hold_reason is None
    assert (first.impact, first.urgency, first.priority) == (3, 2, 4)
    assert first.description is not None and "\n" in first.description
    assert first.opened_at == utc(2024, 3, 1, 8, 15)
    assert first.made_sla is True and first.reassignment_count == 0
    assert first.assignee is None  # empty cell
    assert by["INC0010002"].state == "In Progress"
    on_hold = by["INC0010003"]
    assert (on_hold.state, on_hold.hold_reason) == ("On Hold", "Awaiting Vendor")
    assert on_hold.short_description == 'Printer on floor 3 shows "offline"'
    resolved = by["INC0010004"]
    assert resolved.state == "Resolved" and resolved.priority == 1
    assert resolved.resolved_at == utc(2024, 3, 3, 12, 40)
    assert (resolved.problem, resolved.change) == ("PRB0040001", "CHG0030001")
    assert resolved.reopen_count == 1 and resolved.made_sla is False
    assert by["INC0010005"].ci is None  # "?" means no value
    assert by["INC0010005"].caused_by == "CHG0029999"
    canceled = by["INC0010006"]
    assert canceled.state == "Canceled" and canceled.priority is None
    assert canceled.opened_at == utc(2024, 3, 5, 13, 14, 15)
    assert (by["INC0010007"].state, by["INC0010007"].hold_reason) == (
        "On Hold",
        "Awaiting Change",
    )


def test_formula_looking_text_is_kept_as_text() -> None:
    plan = read_plan(DATA / "servicenow_list.csv", tz=UTC)
    by = {i.number: i for i in plan.incidents}
    assert by["INC0010004"].short_description == "=cmd|' /C calc'!A0"
    assert by["INC0010004"].description == "+1 formula-looking text stays text"
    assert by["INC0010005"].short_description == "@Lunch menu page is blank"


def test_xlsx_matches_csv() -> None:
    csv_plan = read_plan(DATA / "servicenow_list.csv", tz=UTC)
    xlsx_plan = read_plan(DATA / "servicenow_list.xlsx", tz=UTC)
    assert xlsx_plan.date_format == "%Y-%m-%d %H:%M:%S"  # date cells become ISO text
    assert [i.number for i in xlsx_plan.incidents] == [i.number for i in csv_plan.incidents]
    for a, b in zip(csv_plan.incidents, xlsx_plan.incidents, strict=True):
        for name in ("state", "hold_reason", "priority", "opened_at", "resolved_at", "made_sla"):
            assert getattr(a, name) == getattr(b, name), name
        assert a.short_description == b.short_description
        assert a.reassignment_count == b.reassignment_count


def test_times_are_read_in_the_given_zone_and_returned_in_utc() -> None:
    plan = read_plan(DATA / "servicenow_list.csv", tz=ZoneInfo("Europe/Berlin"))
    assert plan.incidents[0].opened_at == utc(2024, 3, 1, 7, 15)
    assert plan.incidents[0].opened_at.tzinfo is UTC


# --------------------------------------------------------------------------- event log


def test_event_log_keeps_the_latest_row_and_builds_history() -> None:
    plan = read_plan(DATA / "servicenow_eventlog.csv", tz=UTC)
    assert plan.source is ImportSource.SERVICENOW_EVENTS
    assert plan.date_format == "%d/%m/%Y %H:%M"
    assert plan.empty_rows == 1  # the blank line at the end
    assert [i.number for i in plan.incidents] == [
        "INC0000045",
        "INC0000047",
        "INC0000057",
        "INC0000062",
    ]
    by = {i.number: i for i in plan.incidents}
    first = by["INC0000045"]
    # Rows are out of order in the file; sys_updated_at decides the latest.
    assert first.state == "Closed" and first.row == 5
    assert first.opened_at == utc(2016, 2, 29, 1, 16)
    assert first.updated_at == utc(2016, 3, 5, 12, 0)
    assert first.short_description == "Category 55 / Subcategory 170"
    assert (first.impact, first.urgency, first.priority) == (2, 2, 3)
    assert first.caller == "Caller 2403" and first.ci is None
    assert first.resolution_code == "code 5"
    assert [e.changes[0] for e in first.history] == [
        ("state", "New", "In Progress"),
        ("state", "In Progress", "Resolved"),
        ("state", "Resolved", "Closed"),
    ]
    assert first.history[0].at == utc(2016, 2, 29, 1, 26)
    assert first.history[0].author == "Updated by 24"
    assert ("assignee", None, "Resolver 89") in first.history[0].changes
    assert first.history[0].row == 4

    second = by["INC0000047"]
    assert second.state == "Resolved" and second.priority == 2
    states = [c for e in second.history for c in e.changes if c[0] in ("state", "hold_reason")]
    assert states == [
        ("state", "New", "In Progress"),
        ("state", "In Progress", "On Hold"),
        ("hold_reason", None, "Awaiting Caller"),
        ("state", "On Hold", "In Progress"),
        ("hold_reason", "Awaiting Caller", None),
        ("state", "In Progress", "Resolved"),
    ]
    assert ("assignment_group", "Group 70", "Group 24") in second.history[0].changes
    assert ("priority", "3", "2") in second.history[2].changes
    assert second.reassignment_count == 1 and second.problem == "PRB0000112"

    vendor = by["INC0000057"]
    assert (vendor.state, vendor.hold_reason, vendor.vendor) == (
        "On Hold",
        "Awaiting Vendor",
        "Vendor 1",
    )
    assert vendor.resolved_at is None and vendor.priority == 5
    single = by["INC0000062"]
    assert single.history == ()
    assert single.short_description == "INC0000062"  # no category: the number
    assert single.change == "CHG0000020"


def test_event_log_rows_must_agree_on_opened_at(tmp_path: Path) -> None:
    text = (DATA / "servicenow_eventlog.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    lines[3] = lines[3].replace("29/2/2016 01:16", "29/2/2016 01:17", 1)
    path = write(tmp_path, "events.csv", "\n".join(lines) + "\n")
    with pytest.raises(ImportFileError) as info:
        read_plan(path, tz=UTC)
    err = info.value
    assert (err.row, err.column, err.value) == (4, "opened_at", "29/2/2016 01:17")
    assert "events.csv, row 4" in str(err) and "INC0000045" in str(err)


def test_plan_is_deterministic() -> None:
    a = read_plan(DATA / "servicenow_eventlog.csv", tz=UTC)
    b = read_plan(DATA / "servicenow_eventlog.csv", tz=UTC)
    assert a.incidents == b.incidents


# --------------------------------------------------------------------------- JSM


def test_jsm_statuses_priorities_and_skipped_types() -> None:
    plan = read_plan(DATA / "jsm_export.csv", tz=UTC)
    assert plan.source is ImportSource.JSM
    assert plan.date_format == "%d/%b/%y %I:%M %p"
    assert plan.skipped == [
        (4, "Issue Type 'Service request' is not an incident"),
        (7, "Issue Type 'Problem' is not an incident"),
    ]
    by = {i.number: i for i in plan.incidents}
    assert list(by) == ["ITSM-101", "ITSM-102", "ITSM-104", "ITSM-105", "ITSM-107"]
    web = by["ITSM-101"]
    assert (web.state, web.priority, web.impact, web.urgency) == ("In Progress", 1, 1, 1)
    assert web.opened_at == utc(2026, 11, 23, 10, 15)
    assert web.assignee == "Ana Silva" and web.caller == "Portal User"
    assert web.service == "Public website" and web.description is not None
    payroll = by["ITSM-102"]
    assert (payroll.state, payroll.hold_reason, payroll.priority) == (
        "On Hold",
        "Awaiting Caller",
        3,
    )
    assert payroll.updated_at == utc(2026, 11, 24, 14, 30)
    email = by["ITSM-104"]
    assert (email.state, email.priority, email.resolution_code) == ("Resolved", 2, "Done")
    assert email.resolved_at == utc(2026, 11, 25, 16, 40)
    assert (by["ITSM-105"].state, by["ITSM-105"].priority) == ("Canceled", 5)
    assert (by["ITSM-107"].state, by["ITSM-107"].priority) == ("Closed", 3)


# --------------------------------------------------------------------------- dates


def test_date_formats_day_first_month_first_and_iso() -> None:
    assert detect_date_format(["29/2/2016 01:16", "5/3/2016 12:00", "?", ""]).format == (
        "%d/%m/%Y %H:%M"
    )
    us = detect_date_format(["03/14/2024 09:05 AM", "03/04/2024 04:30 PM"])
    assert us.format == "%m/%d/%Y %I:%M %p" and us.sample == "03/14/2024 09:05 AM"
    assert detect_date_format(["13-01-2024 10:00:15"]).format == "%d-%m-%Y %H:%M:%S"
    assert detect_date_format(["2024-03-01 10:00:00"]).format == "%Y-%m-%d %H:%M:%S"
    assert detect_date_format(["2024-03-01T10:00:00Z", "2024-03-02"]).format == ISO_8601
    assert detect_date_format(["23/Nov/26 10:15 AM"]).format == "%d/%b/%y %I:%M %p"
    assert format_label("%d/%m/%Y %H:%M") == "dd/MM/yyyy HH:mm"


def test_ambiguous_dates_have_two_candidates_and_no_format() -> None:
    guess = detect_date_format(["03/04/2024 10:00", "05/06/2024 11:30"])
    assert guess == DateGuess(None, ("%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M"), "03/04/2024 10:00")
    nothing = detect_date_format(["yesterday", "soon"])
    assert nothing.format is None and nothing.candidates == () and nothing.sample == "soon"


def test_read_plan_asks_when_ambiguous_and_reads_once_told() -> None:
    path = DATA / "servicenow_list_ambiguous.csv"  # semicolon-delimited
    with pytest.raises(AmbiguousDateFormat) as info:
        read_plan(path, tz=UTC)
    assert info.value.candidates == ("%d-%m-%Y %H:%M", "%m-%d-%Y %H:%M")
    assert "servicenow_list_ambiguous.csv" in str(info.value)
    day_first = read_plan(path, tz=UTC, date_format="%d-%m-%Y %H:%M")
    assert day_first.incidents[0].opened_at == utc(2024, 4, 3, 10, 0)
    month_first = read_plan(path, tz=UTC, date_format="%m-%d-%Y %H:%M")
    assert month_first.incidents[0].opened_at == utc(2024, 3, 4, 10, 0)
    assert month_first.incidents[1].state == "Resolved"  # numeric state 6


def test_month_first_with_am_pm() -> None:
    plan = read_plan(DATA / "servicenow_list_us.csv", tz=UTC)
    assert plan.date_format == "%m/%d/%Y %I:%M %p"
    assert [i.opened_at for i in plan.incidents] == [
        utc(2024, 3, 14, 9, 5),
        utc(2024, 3, 4, 16, 30),
        utc(2023, 12, 1, 23, 0),
    ]
    assert plan.incidents[2].state == "In Progress"  # numeric state 2


# --------------------------------------------------------------------------- bad rows

HEADER = "number,short_description,state,impact,urgency,priority,opened_at,resolved_at\n"


def test_bad_date_names_file_row_column_and_value(tmp_path: Path) -> None:
    rows = "".join(
        f"INC{k:07d},Row {k},New,2 - Medium,2 - Medium,3 - Moderate,{k % 28 + 1:02d}/03/2024 10:00,\n"
        for k in range(2, 17)
    )
    path = write(tmp_path, "incidents.csv", HEADER + rows + "INC9,Bad,New,,,,31/02/2024 10:00,\n")
    with pytest.raises(ImportFileError) as info:
        read_plan(path, tz=UTC)
    assert str(info.value) == (
        'incidents.csv, row 17, column "opened_at": "31/02/2024 10:00" is not a date '
        "(dd/MM/yyyy HH:mm)."
    )
    assert (info.value.row, info.value.column, info.value.value) == (
        17,
        "opened_at",
        "31/02/2024 10:00",
    )


@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        ("INC1,x,Sleeping,,,,2024-03-01 10:00:00,", "state", "not a known state (accepted: New"),
        ("INC1,x,New,4 - Tiny,,,2024-03-01 10:00:00,", "impact", "out of range"),
        ("INC1,x,New,,,6 - Whenever,2024-03-01 10:00:00,", "priority", "out of range"),
        ("INC1,x,New,,Soonish,,2024-03-01 10:00:00,", "urgency", "is not an urgency"),
        ("INC1,,New,,,,2024-03-01 10:00:00,", "short_description", "required"),
        (",x,New,,,,2024-03-01 10:00:00,", "number", "required"),
        ("INC1,x,New,,,,?,", "opened_at", "required"),
        (
            "INC1,x,Resolved,,,,2024-03-01 10:00:00,2024-02-01 10:00:00",
            "resolved_at",
            "before the incident was opened",
        ),
    ],
)
def test_row_errors(tmp_path: Path, row: str, column: str, words: str) -> None:
    ok = "INC0,fine,New,1 - High,1 - High,1 - Critical,2024-03-01 09:00:00,\n"
    path = write(tmp_path, "bad.csv", HEADER + ok + row + "\n")
    with pytest.raises(ImportFileError) as info:
        read_plan(path, tz=UTC)
    assert info.value.row == 3 and info.value.column == column
    assert str(info.value).startswith(f'bad.csv, row 3, column "{column}"')
    assert words in str(info.value)


def test_first_bad_row_wins(tmp_path: Path) -> None:
    rows = "INC1,x,Nope,,,,2024-03-01 10:00:00,\nINC2,x,New,9,,,2024-03-01 10:00:00,\n"
    path = write(tmp_path, "two.csv", HEADER + rows)
    with pytest.raises(ImportFileError) as info:
        read_plan(path, tz=UTC)
    assert info.value.row == 2


def test_mapping_errors(tmp_path: Path) -> None:
    path = DATA / "servicenow_list.csv"
    with pytest.raises(ImportFileError, match="not in the file"):
        read_plan(path, mapping={"caller": "Who"})
    with pytest.raises(ImportFileError, match="no column holds Opened"):
        read_plan(path, mapping={"opened_at": None})
    unknown = write(tmp_path, "other.csv", "id,title\n1,x\n")
    with pytest.raises(ImportFileError, match="does not look like"):
        read_plan(unknown)


def test_explicit_mapping_and_source_override(tmp_path: Path) -> None:
    path = write(
        tmp_path, "custom.csv", "Ticket,Title,Status,When\nT1,Hello,Closed,2024-03-01 10:00:00\n"
    )
    mapping = {
        "number": "Ticket",
        "short_description": "Title",
        "state": "Status",
        "opened_at": "When",
    }
    plan = read_plan(path, source=ImportSource.SERVICENOW_LIST, mapping=mapping, tz=UTC)
    assert plan.incidents[0].number == "T1" and plan.incidents[0].state == "Closed"
    assert plan.mapping["number"] == "Ticket" and plan.mapping["caller"] is None


# --------------------------------------------------------------------------- files


def test_encodings_and_delimiters(tmp_path: Path) -> None:
    text = "number;short_description;state;opened_at\nINC1;Café crème;New;2024-03-01 10:00:00\n"
    for encoding, name in (("utf-8-sig", "a.csv"), ("utf-16", "b.csv"), ("cp1252", "c.csv")):
        plan = read_plan(write(tmp_path, name, text, encoding), tz=UTC)
        assert plan.incidents[0].short_description == "Café crème", encoding
    tabbed = write(tmp_path, "t.csv", text.replace(";", "\t"))
    assert read_table(tabbed).headers == ["number", "short_description", "state", "opened_at"]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n,,\n", "no header"),
        ("dup.csv", b"number,number\n1,2\n", 'header "number" appears twice'),
        ("nul.csv", b"number,state\n1\x00,New\n", "NUL"),
        (
            "ragged.csv",
            b"number,state,opened_at\nINC1,New\n",
            "row 2: has 2 cells but the header has 3",
        ),
        ("quote.csv", b'number,state\n"INC1,New\n', "never closed"),
        ("enc.csv", b"number,state\nINC\x81\x9d,New\n", "not readable text"),
        ("notes.txt.pdf", b"%PDF-1.4", "is not a CSV or XLSX file"),
        ("broken.xlsx", b"PK\x03\x04 not really a zip", "is not a readable Excel workbook"),
        ("big.csv", b"number,state\n" + b"x" * 200_000 + b",New\n", "longer than"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError) as info:
        read_table(path)
    assert words in str(info.value)
    assert str(info.value).startswith(name)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="does not exist"):
        read_table(tmp_path / "gone.csv")


def test_progress_and_cancel() -> None:
    seen: list[tuple[int, int]] = []
    progress = Progress(lambda d, t, _label: seen.append((d, t)))
    read_plan(DATA / "servicenow_eventlog.csv", tz=UTC, progress=progress)
    assert seen[0] == (0, 13) and seen[-1] == (13, 13)
    stopped = Progress()
    stopped.cancel()
    with pytest.raises(Cancelled):
        read_plan(DATA / "servicenow_eventlog.csv", progress=stopped)


def test_preview_rows_show_what_will_be_stored() -> None:
    plan = read_plan(DATA / "servicenow_eventlog.csv", tz=UTC)
    rows = preview_rows(plan, limit=2)
    assert len(rows) == 2
    assert rows[0]["number"] == "INC0000045"
    assert rows[0]["opened_at"] == "2016-02-29 01:16"
    assert rows[0]["state"] == "Closed" and rows[0]["assignee"] == "Resolver 89"
    assert rows[0]["history"] == "3" and rows[0]["made_sla"] == "yes"
    assert rows[1]["vendor"] == ""


def test_mapping_file_round_trip(tmp_path: Path) -> None:
    headers = read_table(DATA / "jsm_export.csv").headers
    mapping = propose_mapping(ImportSource.JSM, headers)
    path = tmp_path / "jsm-mapping.json"
    save_mapping(path, ImportSource.JSM, mapping, "%d/%b/%y %I:%M %p")
    loaded = load_mapping(path)
    assert loaded.source is ImportSource.JSM
    assert loaded.mapping == mapping
    assert loaded.date_format == "%d/%b/%y %I:%M %p"
    plan = read_plan(
        DATA / "jsm_export.csv",
        source=loaded.source,
        mapping=loaded.mapping,
        date_format=loaded.date_format,
        tz=UTC,
    )
    assert len(plan.incidents) == 5


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"kind": "something else"}',
        '{"kind": "servicedeck-import-mapping", "source": "remedy", "mapping": {}}',
        '{"kind": "servicedeck-import-mapping", "source": "jsm", "mapping": {"color": "x"}}',
        '{"kind": "servicedeck-import-mapping", "source": "jsm", "mapping": {"number": 5}}',
    ],
)
def test_bad_mapping_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFileError, match="m.json: is not a Servicedeck import mapping"):
        load_mapping(path)


def test_a_table_already_read_gives_the_same_plan_as_its_file():
    import datetime as _dt

    from app.services.io import importer

    path = Path(__file__).resolve().parents[1] / "data" / "import" / "servicenow_eventlog.csv"
    table = importer.read_table(path)
    from_table = importer.read_plan(table, tz=_dt.UTC)
    from_file = importer.read_plan(path, tz=_dt.UTC)
    assert from_table.incidents == from_file.incidents
    assert from_table.path == path


def test_servicedecks_own_state_names_are_understood_from_every_source():
    from app.models.enums import HoldReason, IncidentState
    from app.services.io import importer
    from app.services.io.records import ImportSource

    for source in (ImportSource.JSM, ImportSource.SERVICENOW_LIST):
        convert = importer._converters(source)["state"]
        assert convert("On Hold") == (IncidentState.ON_HOLD, None)
        assert convert("Awaiting Vendor") == (IncidentState.ON_HOLD, HoldReason.AWAITING_VENDOR)
        assert convert("Canceled") == (IncidentState.CANCELED, None)
        hold = importer._converters(source)["hold_reason"]
        assert hold("Awaiting Change") is HoldReason.AWAITING_CHANGE
