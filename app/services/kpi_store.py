"""The KPI columns kept on disk between sessions, so the KPI page opens without reading
every incident again.

After a full read the columns are written to the user cache folder (one ``.npz`` per
database, written to a temporary name and renamed). The next session restores them only
when they still describe the same database: the same URL, the same SQLite file, the same
schema and business calendar, and no time going backwards; then incidents saved since
are folded in (:meth:`KpiColumns.refresh`), and the restored count and highest id must
match the database's, else the columns are read in full. A cache file that cannot be read
is ignored. ``SERVICEDECK_CACHE_DIR`` moves the folder (tests use it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Incident
from app.services.business_time import BusinessCalendar
from app.services.kpi import KpiColumns, default_calendar

FORMAT = 1
_TABLES = ("incidents", "clocks", "surveys", "outages", "changes")


def cache_dir() -> Path:
    """Where the column files live."""
    override = os.environ.get("SERVICEDECK_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_path

    return user_cache_path("servicedeck") / "kpi"


def _url_text(session: Session) -> str:
    return session.get_bind().url.render_as_string(hide_password=True)


def store_path(session: Session) -> Path | None:
    """The file for this database (None for an in-memory database)."""
    url = session.get_bind().url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    digest = hashlib.sha256(_url_text(session).encode()).hexdigest()[:20]
    return cache_dir() / f"{digest}.npz"


def calendar_fingerprint(calendar: BusinessCalendar) -> str:
    text = repr(
        (
            calendar.spans,
            calendar.timezone,
            sorted(calendar.holidays),
            calendar.first_day,
            calendar.last_day,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def identity(session: Session) -> dict[str, Any]:
    """What a stored file must match to be this database's."""
    from app.db.migrate import SCHEMA_HEAD

    url = session.get_bind().url
    identity: dict[str, Any] = {"url": _url_text(session), "schema": SCHEMA_HEAD}
    if url.get_backend_name() == "sqlite" and url.database:
        try:
            st = os.stat(url.database)
            identity["file"] = [st.st_dev, st.st_ino]
        except OSError:
            identity["file"] = None
    return identity


def save(cols: KpiColumns, path: Path | None, owner: dict[str, Any]) -> Path | None:
    """Write ``cols`` to ``path`` for the database ``owner`` (:func:`identity`) describes.

    Needs no session, so it can run on a thread of its own; errors are swallowed (the
    copy on disk is only a shortcut)."""
    if path is None or cols.loaded_until is None:
        return None
    meta = {
        "format": FORMAT,
        "identity": owner,
        "calendar": calendar_fingerprint(cols.calendar),
        "calendar_name": cols.calendar_name,
        "loaded_until": cols.loaded_until.isoformat(),
    }
    arrays = {f"{t}.{k}": v for t in _TABLES for k, v in getattr(cols, t).items()}
    arrays["service_ids"] = cols.service_ids
    arrays["caused_by"] = cols.caused_by
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, meta=np.array(json.dumps(meta)), **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        return None
    return path


def restore(session: Session, path: Path | None = None) -> KpiColumns | None:
    """The stored columns brought up to date, or None when there are none that still
    describe this database."""
    path = path or store_path(session)
    if path is None or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {name: data[name] for name in data.files if name != "meta"}
    except (OSError, ValueError, KeyError):
        return None
    if meta.get("format") != FORMAT or meta.get("identity") != identity(session):
        return None
    calendar, name = default_calendar(session)
    if meta.get("calendar") != calendar_fingerprint(calendar) or meta.get("calendar_name") != name:
        return None
    tables: dict[str, dict[str, np.ndarray]] = {t: {} for t in _TABLES}
    for key, value in arrays.items():
        table, _, column = key.partition(".")
        if table in tables:
            tables[table][column] = value
    loaded_until = dt.datetime.fromisoformat(meta["loaded_until"])
    cols = KpiColumns(
        tables["incidents"],
        tables["clocks"],
        tables["surveys"],
        tables["outages"],
        tables["changes"],
        arrays.get("service_ids", np.zeros(0, np.int64)),
        calendar,
        name,
        loaded_until,
        arrays.get("caused_by", np.zeros((0, 2), np.int64)),
    )
    mark = session.scalar(select(func.max(Incident.updated_at)))
    if mark is None or mark < loaded_until:
        return None  # the database went back in time (restored or replaced)
    cols.refresh(session)
    count, top = session.execute(select(func.count(), func.max(Incident.id))).one()
    ids = cols.incidents.get("id")
    if ids is None or ids.size != count or (count and int(ids[-1]) != top):
        return None  # incidents were deleted or the rows are not the ones we stored
    return cols
