"""Roster benchmark: CP-SAT against a plain round-robin rotation of the same people.

python -m bench.bench_roster

40 people in two countries (GB, DE) cover a primary and a secondary layer 24x7 in three
8-hour shifts for 8 weeks, with leave and both countries' public holidays. Prints the
solve time, the rule breaches of the solver's roster (must be 0), and the spread of night
shifts per person (max - min) for the solver and for the round robin, and their ratio.
"""

from __future__ import annotations

import datetime as dt
import random
import sys

from app.services.roster_rules import LeaveSpan, RosterPerson, Unavailability
from app.services.roster_solver import (
    Layer,
    Preference,
    RosterProblem,
    check_problem,
    fairness,
    round_robin,
    solve,
    spread,
)

#: Mon 5 Apr 2027 + 8 weeks: GB May Day; DE Labour Day, Ascension, Whit Monday.
START = dt.date(2027, 4, 5)
WEEKS = 8
PEOPLE = 40


def emit(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def build_problem(people: int = PEOPLE, weeks: int = WEEKS, seed: int = 7) -> RosterProblem:
    """The benchmark's team: half in London, half in Berlin, a third of them with leave."""
    rng = random.Random(seed)
    team = [
        RosterPerson(
            k + 1,
            f"Engineer {k + 1:02d}",
            "GB" if k % 2 == 0 else "DE",
            "Europe/London" if k % 2 == 0 else "Europe/Berlin",
            frozenset({"oncall"}),
        )
        for k in range(people)
    ]
    leave = []
    for person in rng.sample(team, people // 3):
        first = START + dt.timedelta(days=rng.randrange(weeks * 7 - 5))
        leave.append(LeaveSpan(person.id, first, first + dt.timedelta(days=rng.choice([4, 6, 9]))))
    unavailable = [Unavailability(p.id, weekdays=(6,), note="church") for p in team[:2]]
    preferences = [Preference(p.id, nights=True) for p in team[2:6]]
    layers = [
        Layer("Primary", required_skills=frozenset({"oncall"})),
        Layer("Secondary", required_skills=frozenset({"oncall"})),
    ]
    return RosterProblem(
        team,
        layers,
        START,
        weeks,
        "Europe/London",
        leave,
        unavailable,
        preferences,
    )


def main(db_path: str | None = None, time_limit_s: float = 20) -> None:
    """Print the roster figures (``db_path`` is ignored: the problem is built in memory)."""
    problem = build_problem()
    result = solve(problem, time_limit_s=time_limit_s)
    emit("roster_people", len(problem.people))
    emit("roster_weeks", problem.weeks)
    emit("roster_status", result.status)
    emit("roster_solve_seconds", f"{result.seconds:.2f}")
    if not result.ok:
        emit("roster_explanation", " ".join(result.explanation))
        return
    emit("roster_shifts", len(result.shifts))
    emit("roster_violations", len(check_problem(problem, result.shifts)))
    baseline = round_robin(problem)
    base_rows = fairness(problem, baseline)
    emit("round_robin_shifts", len(baseline))
    emit("round_robin_violations", len(check_problem(problem, baseline)))
    for measure in ("nights", "weekends", "holidays", "hours"):
        ours, theirs = result.spread(measure), spread(base_rows, measure)
        emit(f"roster_{measure[:-1] if measure != 'hours' else 'hours'}_spread", f"{ours:g}")
        emit(f"round_robin_{measure[:-1] if measure != 'hours' else 'hours'}_spread", f"{theirs:g}")
    nights, base_nights = result.spread("nights"), spread(base_rows, "nights")
    emit("night_spread_ratio", f"{nights / base_nights:.2f}" if base_nights else "n/a")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
