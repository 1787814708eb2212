"""Export benchmark: 100,000 incidents of a demo database to a workbook, against pandas.

python -m bench.bench_export --db PATH   # PATH is only read

The filter is the newest 100,000 incidents by opening time (``opened_from``), exported
through :func:`app.services.export_incidents.export_incidents` from the database to the
file. The baseline writes the same rows with ``pandas.DataFrame.to_excel`` (openpyxl
engine); its time counts only ``to_excel``, not reading the rows, so the ratio favours
pandas. Each export runs in a child process, so the peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 100_000
RUNS = 3


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def _window_start(db_path: str) -> str:
    """The opening instant of the ROWS-th newest incident (ISO, with its zone)."""
    from sqlalchemy import func, select

    from app.db import open_database
    from app.models import Incident

    database = open_database(db_path, upgrade=False, create=False)
    try:
        with database.session() as session:
            stmt = (
                select(Incident.opened_at)
                .order_by(Incident.opened_at.desc())
                .offset(ROWS - 1)
                .limit(1)
            )
            start = session.scalar(stmt) or session.scalar(select(func.min(Incident.opened_at)))
    finally:
        database.dispose()
    return start.isoformat() if start else "1970-01-01T00:00:00+00:00"


def _peak_rss_mb() -> float:
    """This process's peak resident memory (MiB).

    Linux's VmHWM belongs to the process image; ru_maxrss survives exec and so would count
    whatever the parent (say, the whole benchmark suite) had resident when it forked.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, db_path: str, start: str, out: str) -> None:
    """Run one export in this process and print its figures as key=value words."""
    from app.db import open_database
    from app.services.incident_query import IncidentFilter

    database = open_database(db_path, upgrade=False, create=False)
    filt = IncidentFilter(opened_from=start)
    figures: dict[str, object] = {}
    with database.session() as session:
        if kind == "ours":
            from app.services.export_incidents import export_incidents

            began = time.perf_counter()
            figures["rows"] = export_incidents(session, filt, out)
            figures["seconds"] = time.perf_counter() - began
        else:
            figures.update(_pandas(session, filt, out))
    figures["rss_mb"] = _peak_rss_mb()
    database.dispose()
    print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def _pandas(session, filt, out: str) -> dict[str, object]:
    """The same rows as the export, read the same way, written by DataFrame.to_excel."""
    import pandas as pd

    from app.services import incident_query as q
    from app.services.export_incidents import COLUMNS, export_query, row_values
    from app.services.io.excel import excel_value

    began = time.perf_counter()
    ctx = q.context_for(session)
    dialect = session.get_bind().dialect.name
    result = session.execute(export_query(filt, q.DEFAULT_SORT, ctx, dialect))
    values = row_values(list(result.keys()), ctx.now)
    # Excel holds no zones; the export writes local wall time, so pandas gets the same.
    rows = [tuple(excel_value(v) for v in values(row)) for row in result]
    frame = pd.DataFrame(rows, columns=[c.header for c in COLUMNS])
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    frame.to_excel(out, index=False, sheet_name="Incidents", engine="openpyxl")
    return {"rows": len(frame), "read_seconds": read_s, "seconds": time.perf_counter() - began}


def _run(kind: str, db_path: str, start: str, out: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.bench_export", "--db", db_path]
    cmd += ["--child", kind, "--start", start, "--out", str(out)]
    began = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{kind} export failed:\n{proc.stderr[-2000:]}")
    words = proc.stdout.strip().splitlines()[-1].split()
    figures = {k: float(v) for k, v in (w.split("=", 1) for w in words)}
    figures["wall"] = wall
    figures["file_mb"] = out.stat().st_size / 2**20
    return figures


def main(db_path: str) -> None:
    """Print the export's time and memory, pandas' on the same rows, and the ratio."""
    start = _window_start(db_path)
    with tempfile.TemporaryDirectory(prefix="servicedeck-export-") as folder:
        ours = [_run("ours", db_path, start, Path(folder) / "ours.xlsx") for _ in range(RUNS)]
        theirs = _run("pandas", db_path, start, Path(folder) / "pandas.xlsx")
    seconds = statistics.median(r["seconds"] for r in ours)
    emit("export_filter", f"opened_from={start}")
    emit("export_rows", int(ours[0]["rows"]))
    emit("export_s", f"{seconds:.2f}")
    emit("export_runs_s", " ".join(f"{r['seconds']:.2f}" for r in ours))
    emit("export_process_wall_s", f"{statistics.median(r['wall'] for r in ours):.2f}")
    emit("export_peak_rss_mb", f"{max(r['rss_mb'] for r in ours):.0f}")
    emit("export_file_mb", f"{ours[0]['file_mb']:.1f}")
    emit("pandas_rows", int(theirs["rows"]))
    emit("pandas_read_s", f"{theirs['read_seconds']:.2f}")
    emit("pandas_to_excel_s", f"{theirs['seconds']:.2f}")
    emit("pandas_peak_rss_mb", f"{theirs['rss_mb']:.0f}")
    emit("pandas_file_mb", f"{theirs['file_mb']:.1f}")
    emit("export_speedup_vs_pandas", f"{theirs['seconds'] / seconds:.2f}")
    emit("load_average_1m", f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a demo database (only read)")
    parser.add_argument("--child", choices=("ours", "pandas"), help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.db, args.start, args.out)
    else:
        main(args.db)
