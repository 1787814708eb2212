"""Benchmarks for the foundation, printed as ``name: value`` lines.

Machines here are noisy, so every timing is the median of several runs and start-up
is also given as a ratio to a floor measured in the same run: the time Python takes
just to import the GUI and database libraries.

    python -m bench                      # 1,000,000 incidents (builds the database once)
    python -m bench --incidents 100000   # a quicker look
    python -m bench --db PATH            # reuse a demo database built earlier (it may be written)
    python -m bench --only queue,export  # some areas only

After the foundation's figures, each area's benchmark module (``bench/bench_<area>.py``,
with ``main(db_path)``) runs on the same database.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = "import PySide6.QtWidgets, sqlalchemy, pyqtgraph, openpyxl"
#: Area benchmarks run after the foundation's, in this order, when their module exists.
AREAS = (
    "queue",
    "sla",
    "export",
    "kpi",
    "dashboard",
    "conflicts",
    "oncall",
    "calendar",
    "roster",
    "scorecards",
    "import",
)


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds and stdout of one child process."""
    began = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env, text=True)
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def bench_demo(db: Path, incidents: int) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "app",
        "demo",
        "--db",
        str(db),
        "--incidents",
        str(incidents),
        "--quiet",
    ]
    elapsed, out = timed(cmd)
    emit("demo_incidents", incidents)
    emit("demo_generation_s", f"{elapsed:.1f}")
    emit("demo_database_mb", f"{db.stat().st_size / 2**20:.0f}")
    emit("demo_summary", out.strip())


def bench_start(db: Path, runs: int) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    floor = [timed([sys.executable, "-c", FLOOR], env)[0] for _ in range(runs)]
    emit("import_floor_s", f"{statistics.median(floor):.3f}")
    start_env = {**env, "SERVICEDECK_EXIT_AFTER_PAINT": "1"}
    painted, today, rss = [], [], []
    for _ in range(runs):
        start_env["SERVICEDECK_LAUNCHED_AT"] = repr(time.time())
        _, out = timed([sys.executable, "-m", "app", "--db", str(db)], start_env)
        fields = dict(part.split("=", 1) for part in out.split() if "=" in part)
        painted.append(float(fields.get("painted_s", "nan")))
        today.append(float(fields.get("today_s", "nan")))
        if "rss_mb" in fields:
            rss.append(float(fields["rss_mb"]))
    floor_s = statistics.median(floor)
    emit("cold_start_painted_s", f"{statistics.median(painted):.3f}")
    emit("cold_start_today_loaded_s", f"{statistics.median(today):.3f}")
    emit("cold_start_painted_ratio", f"{statistics.median(painted) / floor_s:.2f}")
    emit("cold_start_today_loaded_ratio", f"{statistics.median(today) / floor_s:.2f}")
    if rss:
        emit("idle_rss_mb", f"{statistics.median(rss):.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="an existing demo database (skips generation)")
    parser.add_argument("--runs", type=int, default=5, help="repeats for each start-up timing")
    parser.add_argument(
        "--only", default="", help="comma-separated areas: start," + ",".join(AREAS)
    )
    args = parser.parse_args(argv)
    only = {a.strip() for a in args.only.split(",") if a.strip()}
    emit("python", sys.version.split()[0])
    emit("cpus", os.cpu_count())
    if args.db:
        db = args.db
    else:
        db = Path(tempfile.mkdtemp(prefix="servicedeck-bench-")) / "bench.db"
        bench_demo(db, args.incidents)
    if not only or "start" in only:
        bench_start(db, args.runs)
    for area in AREAS:
        module = f"bench.bench_{area}"
        if (not only or area in only) and importlib.util.find_spec(module) is not None:
            importlib.import_module(module).main(str(db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
