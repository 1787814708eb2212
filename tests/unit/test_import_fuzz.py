"""Broken files never crash the import readers: a plan, or an ImportFileError naming the file."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services.io.importer import read_plan, read_table
from app.services.io.records import ImportFileError

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
SAMPLES = [
    (DATA / name).read_bytes()
    for name in ("servicenow_list.csv", "servicenow_eventlog.csv", "jsm_export.csv")
]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NASTY = [
    b'"',
    b'""',
    b",",
    b";",
    b"\t",
    b"\r",
    b"\n",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\x81",
    b"\xe9",
    b"=cmd|' /C calc'!A0",
    b"+SUM(1)",
    b"-2+3",
    b"@foo",
    b"?",
    b"31/02/2024 10:00",
    b"13/13/2024 25:61",
    b"2024-02-30T10:00:00+25:00",
    b"99 - Huge",
    b"x" * 140_000,
]


def check(data: bytes, suffix: str = ".csv") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzzed{suffix}"
        path.write_bytes(data)
        for read in (read_table, lambda p: read_plan(p, tz=dt.UTC)):
            try:
                read(path)
            except ImportFileError as exc:
                assert "fuzzed" in str(exc), str(exc)
                assert exc.file is not None and exc.file.endswith(f"fuzzed{suffix}")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["insert", "delete", "truncate", "replace"]))
        at = draw(st.integers(0, len(data)))
        if action == "insert":
            piece = draw(st.one_of(st.sampled_from(NASTY), st.binary(max_size=20)))
            data[at:at] = piece
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif action == "truncate":
            del data[at:]
        else:
            data[at : at + 1] = draw(st.sampled_from(NASTY[:-1]))
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_exports(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.binary(max_size=2_000))
def test_random_bytes(data: bytes) -> None:
    check(data)
    check(data, ".xlsx")


@FUZZ
@given(
    st.lists(st.lists(st.text(max_size=30), min_size=1, max_size=6), min_size=1, max_size=8),
    st.sampled_from(["utf-8", "utf-16", "cp1252", "latin-1"]),
)
def test_random_tables_in_any_encoding(cells: list[list[str]], encoding: str) -> None:
    header = "number,short_description,state,opened_at\n"
    body = "\n".join(",".join(row) for row in cells)
    check((header + body).encode(encoding, errors="replace"))


@FUZZ
@given(st.binary(max_size=300))
def test_broken_workbooks(junk: bytes) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("[Content_Types].xml", junk)
        zf.writestr("xl/workbook.xml", junk)
    check(buffer.getvalue(), ".xlsx")
    sample = (DATA / "servicenow_list.xlsx").read_bytes()
    cut = len(junk) * 7 % len(sample)
    check(sample[:cut] + junk, ".xlsx")


# --- the whole import, command line included, against a database that holds data ---------

_TEMPLATE: dict[str, Path] = {}


def _template_db() -> Path:
    """A database after one good import (made once; each example works on a copy)."""
    if "path" not in _TEMPLATE:
        from app.db import open_database
        from app.services.io.incident_import import write_plan

        folder = Path(tempfile.mkdtemp(prefix="servicedeck-fuzz-"))
        path = folder / "template.db"
        database = open_database(str(path))
        write_plan(database, read_plan(DATA / "servicenow_eventlog.csv", tz=dt.UTC))
        database.dispose()
        _TEMPLATE["path"] = path
    return _TEMPLATE["path"]


def _digest(path: Path) -> tuple:
    """Every row of the tables an import writes, as stored."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        return tuple(
            tuple(conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall())
            for table in ("incident", "incident_event", "sla_clock", "audit_log", "team",
                          "person", "vendor", "service")
        )  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_broken_export_fails_in_one_line_and_leaves_the_database_as_it_was(data: bytes) -> None:
    import contextlib
    import shutil

    from app.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "fuzz.db"
        shutil.copy(_template_db(), db_path)
        before = _digest(db_path)
        export = Path(tmp) / "fuzzed.csv"
        export.write_bytes(data)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["import", "servicenow", str(export), "--db", str(db_path),
                         "--tz", "UTC", "--quiet"])  # fmt: skip
        if code != 0:
            lines = err.getvalue().splitlines()
            assert len(lines) == 1 and lines[0].startswith("servicedeck: "), lines
            assert _digest(db_path) == before
