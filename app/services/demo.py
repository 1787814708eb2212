"""Realistic, deterministic demo data at any scale (``servicedeck demo``).

Everything is drawn from one seeded generator, so a seed and an anchor instant give the
same database every time. Incidents are generated as numpy columns (arrivals with
weekday and hour seasonality, long-tailed resolution times by priority, vendor and group
quality, on-hold spells, reopens, major incidents with outages) and written with the
bulk writer, so a million incidents with their timelines, SLA clocks and surveys load
in well under a minute on SQLite.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select

from app.db import Database, open_database
from app.db.errors import DatabaseError
from app.models import (
    UTC,
    AppUser,
    BusinessHours,
    BusinessSchedule,
    CabAgendaItem,
    CabMeeting,
    CabVote,
    ChangeRequest,
    ChangeReview,
    ChangeTemplate,
    ChangeWindow,
    CIRelation,
    CommunicationLog,
    ConfigurationItem,
    Contract,
    ContractSlaTarget,
    CorrectiveAction,
    Country,
    CreditRule,
    EscalationLevel,
    EscalationPolicy,
    Holiday,
    Incident,
    IncidentEvent,
    LayerMember,
    Leave,
    MajorIncidentUpdate,
    OnCallSchedule,
    Outage,
    Person,
    PostIncidentReview,
    PriorityRule,
    Problem,
    ReviewAction,
    RiskAnswer,
    RiskOption,
    RiskQuestion,
    ScheduleLayer,
    ScheduleOverride,
    ScorecardCriterion,
    ScorecardPeriod,
    ScorecardScore,
    ScorecardTemplate,
    Service,
    SlaClock,
    SlaDefinition,
    SurveyResponse,
    Team,
    Vendor,
    VendorContact,
    cab_attendee,
    change_ci,
    change_service,
    contract_service,
    team_member,
)
from app.services import demo_catalog as cat
from app.services import scorecards
from app.services.bulk import BulkWriter, Nullable
from app.services.business_time import BusinessCalendar

DAY = 86_400
HOUR = 3_600
NONE = np.iinfo(np.int64).min  # "no instant" in int64 epoch-second columns

STATES = np.array(["New", "In Progress", "On Hold", "Resolved", "Closed", "Canceled"], dtype=object)
NEW, IN_PROGRESS, ON_HOLD, RESOLVED, CLOSED, CANCELED = range(6)
HOLD_REASONS = np.array(
    ["Awaiting Caller", "Awaiting Change", "Awaiting Problem", "Awaiting Vendor"], dtype=object
)
PAUSING_REASONS = (0, 3)  # caller and vendor pause the resolution SLA (DOMAIN.md default)
CONTACT_TYPES = np.array(["phone", "email", "portal", "monitoring"], dtype=object)
WEEKDAY_FACTOR = np.array([1.15, 1.08, 1.05, 1.02, 0.92, 0.28, 0.22])
HOUR_WEIGHTS = np.array(
    [0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.2, 2.2, 2.8, 2.9, 2.6,
     2.0, 2.4, 2.6, 2.4, 2.0, 1.5, 1.0, 0.7, 0.5, 0.4, 0.3, 0.2]
)  # fmt: skip
#: Per priority 1-5: median response and resolution (seconds), spread, on-hold chance.
RESPONSE_MEDIAN = np.array([240, 720, 2_700, 9_000, 21_600])
RESOLVE_MEDIAN = np.array([1.5 * HOUR, 3 * HOUR, 22 * HOUR, 48 * HOUR, 110 * HOUR])
RESOLVE_SIGMA = np.array([0.7, 0.75, 1.0, 1.05, 1.1])
HOLD_CHANCE = np.array([0.03, 0.08, 0.18, 0.22, 0.25])
#: SLA targets per priority 1-5 (business seconds); P1-P2 run 24x7, P3-P5 on 8x5.
RESPONSE_TARGET = np.array([15 * 60, 30 * 60, 4 * HOUR, 8 * HOUR, 16 * HOUR])
RESOLUTION_TARGET = np.array([4 * HOUR, 8 * HOUR, 24 * HOUR, 40 * HOUR, 80 * HOUR])
BUSINESS_HOURS_FROM = 3  # priorities >= 3 use the 8x5 schedule
AUTO_CLOSE = 3 * DAY
REGION_OF_COUNTRY = {"GB": 0, "DE": 0, "PL": 0, "US": 1, "BR": 1, "IN": 2, "SG": 2, "AU": 2}


class DemoError(DatabaseError):
    """The demo database cannot be made as asked (e.g. the database already holds data)."""


@dataclass
class DemoSummary:
    """What was written, and how long it took."""

    database: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        parts = ", ".join(f"{n:,} {name}" for name, n in self.counts.items())
        return f"Demo data in {self.database}: {parts} ({self.seconds:.1f} s)."


def _ts(values: np.ndarray) -> np.ndarray:
    """int64 epoch seconds (NONE = missing) as datetime64[s] with NaT."""
    out = values.astype("datetime64[s]")
    out[values == NONE] = np.datetime64("NaT")
    return out


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _instant(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), UTC)


def default_anchor() -> dt.datetime:
    """The demo's "now": the start of the current hour, so data looks current."""
    return dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


class _Generated(SimpleNamespace):
    """The incident columns of one run, shared by the writers of the tables around them."""


class DemoBuilder:
    """Builds every table of the demo database on one connection, in one transaction."""

    def __init__(
        self,
        conn: Connection,
        incidents: int,
        seed: int,
        anchor: dt.datetime,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.conn = conn
        self.n = incidents
        self.rng = np.random.default_rng(seed)
        self.anchor = _epoch(anchor)
        self.start = _epoch(
            dt.datetime.combine(anchor.date() - dt.timedelta(days=730), dt.time(), UTC)
        )
        self.writer = BulkWriter(conn)
        self.progress = progress or (lambda _msg: None)
        self.counts: dict[str, int] = {}
        self._t0 = time.perf_counter()

    # -- plumbing ---------------------------------------------------------------------

    def _say(self, message: str) -> None:
        self.progress(f"[{time.perf_counter() - self._t0:5.1f} s] {message}")

    def _rows(self, table: Any, rows: list[dict[str, Any]], count_as: str | None = None) -> None:
        """Insert small tables through Core (types handled by SQLAlchemy)."""
        target = getattr(table, "__table__", table)
        if rows:
            # Bookkeeping instants come from the anchor too, so a seed gives the same rows.
            stamp = {
                c: _instant(self.start)
                for c in ("created_at", "updated_at")
                if c in target.c and c not in rows[0]
            }
            if stamp:
                rows = [{**stamp, **r} for r in rows]
            self.conn.execute(insert(target), rows)
            if "id" in rows[0] and self.conn.dialect.name != "sqlite":
                self.writer.reset_sequence(target)
        if count_as:
            self.counts[count_as] = self.counts.get(count_as, 0) + len(rows)

    def _bulk(self, model: Any, columns: dict[str, Any], count_as: str | None = None) -> int:
        count = self.writer.write(getattr(model, "__table__", model), columns)
        if count_as:
            self.counts[count_as] = self.counts.get(count_as, 0) + count
        return count

    def run(self) -> dict[str, int]:
        self.reference()
        self._say("organisation, services and CIs written")
        self.changes()
        self._say(f"{self.counts['changes']:,} changes and CAB meetings written")
        self.problems()
        self.incidents()
        self.rosters()
        self._say("on-call schedules, leave and escalation written")
        self.vendors()
        self._say("vendor contracts and scorecards written")
        return self.counts

    # -- organisation, CMDB, reference data --------------------------------------------

    def reference(self) -> None:
        rng = self.rng
        self._rows(
            Country,
            [{"code": c, "name": n, "timezone": tz} for c, n, tz, _ in cat.COUNTRIES],
        )
        self.vendor_names = [v[0] for v in cat.VENDORS]
        self.vendor_quality = np.array([v[2] for v in cat.VENDORS])
        self._rows(
            Vendor,
            [
                {
                    "id": i + 1,
                    "name": name,
                    "category": kind,
                    "active": True,
                    "website": f"https://www.{name.split()[0].lower()}.example",
                    "account_manager": None,
                }
                for i, (name, kind, _) in enumerate(cat.VENDORS)
            ],
            "vendors",
        )
        self._rows(
            VendorContact,
            [
                {
                    "vendor_id": v + 1,
                    "name": f"{rng.choice(cat.FIRST_NAMES)} {rng.choice(cat.LAST_NAMES)}",
                    "role": role,
                    "email": f"{role.split()[0].lower()}@{name.split()[0].lower()}.example",
                }
                for v, (name, _, _) in enumerate(cat.VENDORS)
                for role in ("Account manager", "Service delivery manager")
            ],
        )
        # Teams: desks, resolvers, process teams, and resolver groups of six vendors.
        # Northwind, Contoso, Fabrikam, Proseware, Coho and Humongous run their own groups.
        vendor_groups = [0, 1, 2, 6, 8, 14]
        names = cat.SERVICE_DESKS + cat.RESOLVER_GROUPS + cat.OTHER_GROUPS
        team_vendor = [None] * len(names)
        for v in vendor_groups:
            names.append(f"{cat.VENDORS[v][0]} Support")
            team_vendor.append(v + 1)
        self.team_names = np.array(names, dtype=object)
        self.team_id = {name: i + 1 for i, name in enumerate(names)}
        self.vendor_team = {
            v + 1: self.team_id[f"{cat.VENDORS[v][0]} Support"] for v in vendor_groups
        }

        # People, by country; vendor groups are staffed by the vendor's people.
        n_people = 300
        shares = np.array([c[3] for c in cat.COUNTRIES])
        country_idx = rng.choice(len(cat.COUNTRIES), n_people, p=shares / shares.sum())
        country_idx[0] = 0  # Alex Kim, the service manager, works from the UK
        first = rng.choice(cat.FIRST_NAMES, n_people)
        last = rng.choice(cat.LAST_NAMES, n_people)
        first[0], last[0] = "Alex", "Kim"
        self.people_names = np.array(
            [f"{a} {b}" for a, b in zip(first, last, strict=True)], dtype=object
        )
        self.person_country = np.array([cat.COUNTRIES[i][0] for i in country_idx], dtype=object)
        self.person_region = np.array([REGION_OF_COUNTRY[c] for c in self.person_country])
        self.n_people = n_people

        # Team membership: every team gets 4-8 members; agents are people 1..240.
        members: dict[int, list[int]] = {}
        agents = np.arange(2, 241)
        for t, name in enumerate(names, start=1):
            size = int(rng.integers(4, 9))
            pool = agents
            if name.startswith("Service Desk") and name != "Service Desk Tier 2":
                region = cat.SERVICE_DESKS.index(name)
                pool = agents[self.person_region[agents - 1] == region]
                size = min(len(pool), 10)
            members[t] = sorted(rng.choice(pool, size, replace=False).tolist())
        for v, team in self.vendor_team.items():
            del v
            members[team] = members[team][:5]
        self.members = members
        vendor_of_person = {
            p: team_vendor[t - 1] for t, ps in members.items() for p in ps if team_vendor[t - 1]
        }
        people_rows = []
        for i in range(n_people):
            pid = i + 1
            country = self.person_country[i]
            tz = next(c[2] for c in cat.COUNTRIES if c[0] == country)
            handle = f"{first[i].lower()}.{last[i].lower()}"
            people_rows.append(
                {
                    "id": pid,
                    "name": self.people_names[i],
                    "email": f"{handle}.{pid}@example.com",
                    "phone": f"+44 20 7946 {pid:04d}",
                    "title": "Service Manager"
                    if pid == 1
                    else ("Engineer" if pid <= 240 else "Staff"),
                    "timezone": tz,
                    "country_code": country,
                    "skills": ",".join(
                        sorted(
                            set(
                                rng.choice(
                                    [
                                        "linux",
                                        "windows",
                                        "network",
                                        "database",
                                        "cloud",
                                        "sap",
                                        "security",
                                        "storage",
                                        "telephony",
                                        "desktop",
                                    ],
                                    2,
                                ).tolist()
                            )
                        )
                    )
                    if pid <= 240
                    else "",
                    "is_agent": 2 <= pid <= 240,
                    "vendor_id": vendor_of_person.get(pid),
                    "active": True,
                }
            )
        self._rows(Person, people_rows, "people")
        self._rows(
            Team,
            [
                {
                    "id": t,
                    "name": name,
                    "description": f"{name} team",
                    "email": f"{name.lower().replace(' ', '.').replace('&', 'and')}@example.com",
                    "manager_id": members[t][0],
                    "vendor_id": team_vendor[t - 1],
                    "active": True,
                }
                for t, name in enumerate(names, start=1)
            ],
            "teams",
        )
        self._rows(
            team_member,
            [{"team_id": t, "person_id": p} for t, ps in members.items() for p in ps],
        )
        self.member_flat = np.concatenate([np.array(members[t]) for t in range(1, len(names) + 1)])
        sizes = np.array([len(members[t]) for t in range(1, len(names) + 1)])
        self.member_start = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        self.member_count = sizes
        self.group_speed = rng.uniform(0.8, 1.3, len(names) + 1)
        self._rows(
            AppUser,
            [
                {
                    "username": "alex.kim",
                    "person_id": 1,
                    "display_name": "Alex Kim",
                    "role": "service_manager",
                    "active": True,
                },
                {
                    "username": "admin",
                    "person_id": None,
                    "display_name": "Administrator",
                    "role": "admin",
                    "active": True,
                },
            ]
            + [
                {
                    "username": self.people_names[p - 1].lower().replace(" ", ".") + f".{p}",
                    "person_id": p,
                    "display_name": self.people_names[p - 1],
                    "role": role,
                    "active": True,
                }
                for p, role in ((2, "change_manager"), (3, "agent"), (4, "agent"), (5, "viewer"))
            ],
        )

        # Services and CIs.
        self.n_services = len(cat.SERVICES)
        svc_rows, ci_rows, rel_rows = [], [], []
        ci_first, ci_count = [], []
        self.service_group = np.zeros(self.n_services + 1, dtype=np.int64)
        self.service_vendor = np.zeros(self.n_services + 1, dtype=np.int64)  # 0 = none
        self.service_weight = np.array([s[4] for s in cat.SERVICES], dtype=float)
        self.service_criticality = np.array([0] + [s[1] for s in cat.SERVICES])
        ci_id = 0
        for s, (name, crit, group, vendor, _, _, classes, _) in enumerate(cat.SERVICES, start=1):
            vendor_id = self.vendor_names.index(vendor) + 1 if vendor else None
            self.service_group[s] = self.team_id[group]
            self.service_vendor[s] = vendor_id or 0
            svc_rows.append(
                {
                    "id": s,
                    "name": name,
                    "description": f"The {name} service",
                    "criticality": crit,
                    "support_group_id": self.team_id[group],
                    "vendor_id": vendor_id,
                    "availability_target": 99.95 if crit == 1 else 99.9 if crit == 2 else 99.5,
                    "active": True,
                }
            )
            count = int(rng.integers(12, 30))
            ci_first.append(ci_id + 1)
            ci_count.append(count)
            slug = name.lower().replace(" & ", "-").replace(" ", "-")
            for k in range(count):
                ci_id += 1
                cls = classes[k % len(classes)]
                ci_rows.append(
                    {
                        "id": ci_id,
                        "name": f"{slug}-{cls.split()[-1]}-{k + 1:02d}",
                        "ci_class": cls,
                        "environment": "production" if k % 5 else "test",
                        "service_id": s,
                        "support_group_id": self.team_id[group],
                        "vendor_id": vendor_id,
                        "location": rng.choice(
                            ["London DC1", "Frankfurt DC2", "Virginia", "Singapore"]
                        ),
                        "active": True,
                    }
                )
                if k >= len(classes):  # children depend on one of the service's first CIs
                    rel_rows.append(
                        {
                            "parent_id": ci_first[-1] + (k % len(classes)),
                            "child_id": ci_id,
                            "kind": "runs on",
                        }
                    )
        self._rows(Service, svc_rows, "services")
        self._rows(ConfigurationItem, ci_rows, "configuration items")
        self._rows(CIRelation, rel_rows)
        self.ci_first = np.array([0, *ci_first])
        self.ci_count = np.array([0, *ci_count])

        # Holidays per country, the 8x5 schedule, and the SLA definitions.
        import holidays as holiday_lib

        years = range(_instant(self.start).year, _instant(self.anchor).year + 2)
        holiday_rows = []
        self.holidays_by_country: dict[str, set[dt.date]] = {}
        for code, _, _, _ in cat.COUNTRIES:
            kwargs = {"subdiv": "ENG"} if code == "GB" else {}
            days = holiday_lib.country_holidays(code, years=list(years), **kwargs)
            self.holidays_by_country[code] = set(days)
            holiday_rows += [
                {"country_code": code, "day": d, "name": n, "schedule_id": None}
                for d, n in sorted(days.items())
            ]
        self._rows(Holiday, holiday_rows)
        self._rows(
            BusinessSchedule,
            [{"id": 1, "name": "8x5 London", "timezone": "Europe/London", "country_code": "GB"}],
        )
        self._rows(
            BusinessHours,
            [
                {"schedule_id": 1, "weekday": d, "start_minute": 540, "end_minute": 1020}
                for d in range(5)
            ],
        )
        self.calendar = BusinessCalendar.weekly(
            [(d, "09:00", "17:00") for d in range(5)],
            "Europe/London",
            holidays=self.holidays_by_country["GB"],
        )
        self.calendar = BusinessCalendar(
            spans=self.calendar.spans,
            timezone="Europe/London",
            holidays=self.calendar.holidays,
            first_day=_instant(self.start).date() - dt.timedelta(days=5),
            last_day=_instant(self.anchor).date() + dt.timedelta(days=400),
        )
        sla_rows = []
        for p in range(1, 6):
            schedule = 1 if p >= BUSINESS_HOURS_FROM else None
            where = "8x5" if schedule else "24x7"
            for target, seconds, sid in (
                ("response", RESPONSE_TARGET[p - 1], p),
                ("resolution", RESOLUTION_TARGET[p - 1], 5 + p),
            ):
                pause = (
                    {"state": ["On Hold"], "hold_reason": ["Awaiting Caller", "Awaiting Vendor"]}
                    if target == "resolution"
                    else {}
                )
                sla_rows.append(
                    {
                        "id": sid,
                        "name": f"P{p} {target} ({_duration(int(seconds))} {where})",
                        "kind": "SLA",
                        "target": target,
                        "duration_seconds": int(seconds),
                        "schedule_id": schedule,
                        "applies_to": {"priority": [p]},
                        "start_condition": {"state": ["New"]},
                        "pause_condition": pause,
                        "stop_condition": {"state": ["Resolved", "Closed"]}
                        if target == "resolution"
                        else {"first_response": True},
                        "cancel_condition": {"state": ["Canceled"]},
                        "active": True,
                        "description": "",
                    }
                )
        self._rows(SlaDefinition, sla_rows)
        with self.conn.begin_nested():
            matrix = self.conn.execute(
                select(PriorityRule.impact, PriorityRule.urgency, PriorityRule.priority)
            ).all()
        self.matrix = np.zeros((4, 4), dtype=np.int64)
        for impact, urgency, priority in matrix:
            self.matrix[impact, urgency] = priority

        # Risk questionnaire, standard change catalogue, scorecard template.
        q_rows, o_rows = [], []
        option_id = 0
        self.risk_options: list[list[tuple[int, int]]] = []
        for q, (text, weight, options) in enumerate(cat.RISK_QUESTIONS, start=1):
            q_rows.append({"id": q, "position": q, "text": text, "weight": weight, "active": True})
            opts = []
            for label, score in options:
                option_id += 1
                o_rows.append({"id": option_id, "question_id": q, "label": label, "score": score})
                opts.append((option_id, score))
            self.risk_options.append(opts)
        self._rows(RiskQuestion, q_rows)
        self._rows(RiskOption, o_rows)
        self._rows(
            ChangeTemplate,
            [
                {
                    "id": i,
                    "name": name,
                    "description": name,
                    "risk": risk,
                    "implementation_plan": "Follow the standard runbook.",
                    "test_plan": "Smoke test.",
                    "backout_plan": "Roll back per runbook.",
                    "typical_duration_minutes": minutes,
                    "active": True,
                }
                for i, (name, risk, minutes) in enumerate(cat.CHANGE_TEMPLATES, start=1)
            ],
        )
        # A new database comes with the standard template (migration 0006); the demo's own,
        # the same criteria with fixed ids, takes its place.
        self.conn.execute(delete(ScorecardCriterion.__table__))
        self.conn.execute(delete(ScorecardTemplate.__table__))
        self._rows(
            ScorecardTemplate,
            [{"id": 1, "name": "Standard vendor scorecard", "green_min": 85.0, "amber_min": 70.0}],
        )
        self._rows(
            ScorecardCriterion,
            [
                {
                    "id": i,
                    "template_id": 1,
                    "position": i,
                    "name": name,
                    "kind": kind,
                    "metric": metric,
                    "weight": weight,
                    "target": target,
                    "floor": floor,
                }
                for i, (name, kind, metric, weight, target, floor) in enumerate(
                    cat.SCORECARD_CRITERIA, 1
                )
            ],
        )

    # -- changes and the CAB ------------------------------------------------------------

    def changes(self) -> None:
        rng = self.rng
        weeks = 104 + 6
        n = int(weeks * 20)
        first = self.start
        horizon = self.anchor + 6 * 7 * DAY
        kind = rng.choice(3, n, p=[0.45, 0.45, 0.10])  # standard, normal, emergency
        svc = rng.choice(self.n_services, n, p=self.service_weight / self.service_weight.sum()) + 1
        day = rng.integers(0, (horizon - first) // DAY, n)
        weekend = rng.random(n) < 0.3
        # Evening windows on weekdays, daytime on weekends; emergencies whenever.
        hour = np.where(weekend, rng.integers(6, 14, n), rng.integers(18, 23, n))
        start = first + day * DAY + hour * HOUR
        start = np.where(weekend, start + ((5 - ((start // DAY + 3) % 7)) % 7) * DAY, start)
        start = np.where(kind == 2, first + rng.integers(0, horizon - first, n) // 900 * 900, start)
        start = np.sort(start)
        template = rng.integers(1, len(cat.CHANGE_TEMPLATES) + 1, n)
        minutes = np.array([0] + [t[2] for t in cat.CHANGE_TEMPLATES])
        length = np.where(kind == 0, minutes[template] * 60, rng.choice([1, 2, 3, 4, 6], n) * HOUR)
        end = start + length
        group = self.service_group[svc]
        assignee = self.member_flat[
            self.member_start[group - 1] + rng.integers(0, self.member_count[group - 1])
        ]
        requester = rng.integers(1, self.n_people + 1, n)

        # Risk from the questionnaire for normal and emergency changes.
        answers = []
        risk_score = np.zeros(n, dtype=np.int64)
        for q, opts in enumerate(self.risk_options):
            weight = cat.RISK_QUESTIONS[q][1]
            pick = rng.choice(len(opts), n, p=_skewed(len(opts)))
            scores = np.array([s for _, s in opts])[pick]
            risk_score += weight * scores
            answers.append(np.array([o for o, _ in opts])[pick])
        risk = np.select(
            [risk_score < 6, risk_score < 11, risk_score < 16],
            ["Low", "Moderate", "High"],
            "Very High",
        ).astype(object)
        tmpl_risk = np.array([None] + [t[1] for t in cat.CHANGE_TEMPLATES], dtype=object)
        risk = np.where(kind == 0, tmpl_risk[template], risk)

        # States and outcomes relative to now.
        past = end < self.anchor - 2 * DAY
        failure_p = np.where(kind == 2, 0.12, np.where(kind == 1, 0.06, 0.02))
        u = rng.random(n)
        close_code = np.where(
            u < failure_p,
            "Unsuccessful",
            np.where(u < failure_p + 0.07, "Successful with issues", "Successful"),
        )
        canceled = rng.random(n) < 0.03
        state = np.full(n, "Closed", dtype=object)
        state[canceled] = "Canceled"
        recent = ~past & (start <= self.anchor)
        state[recent & ~canceled] = np.where(
            end[recent & ~canceled] <= self.anchor, "Review", "Implement"
        )
        future = start > self.anchor
        soon = start - self.anchor
        f_state = np.where(
            kind == 0,
            "Scheduled",
            np.where(
                soon < 10 * DAY,
                np.where(rng.random(n) < 0.75, "Scheduled", "Authorize"),
                np.where(
                    rng.random(n) < 0.5, "Authorize", np.where(rng.random(n) < 0.5, "Assess", "New")
                ),
            ),
        )
        f_state = np.where(kind == 2, "Scheduled", f_state)
        state[future] = f_state[future]
        implemented = past & ~canceled
        jitter = rng.integers(-10, 20, n) * 60
        actual_start = np.where(implemented | (recent & ~canceled), start + jitter, NONE)
        actual_end = np.where(implemented | (state == "Review"), end + jitter, NONE)
        opened = start - rng.integers(2, 30, n) * DAY
        opened = np.where(kind == 2, start - rng.integers(1, 8, n) * HOUR, opened)
        closed_at = np.where(implemented, end + rng.integers(1, 5, n) * DAY, NONE)
        closed_at = np.where(canceled & past, opened + DAY, closed_at)
        closed_at = np.minimum(closed_at, np.where(closed_at == NONE, NONE, self.anchor))
        close_code = np.where(implemented, close_code, None).astype(object)

        # Two overlapping changes on one CI and one change in the year-end freeze, in the
        # coming week: the CAB calendar must show conflicts on any demo database.
        ci = self.ci_first[svc] + rng.integers(0, self.ci_count[svc])
        upcoming = np.flatnonzero(future & (soon < 7 * DAY) & (kind == 1))
        if len(upcoming) >= 2:
            a, b = upcoming[:2]
            ci[b] = ci[a]
            svc[b] = svc[a]
            start_b = start[a] + HOUR
            end[b] = start_b + (end[b] - start[b])
            start[b] = start_b

        self.change_n = n
        self.change_start, self.change_end = start, end
        self.change_service = svc
        self.change_failed = implemented & (close_code == "Unsuccessful")
        self.change_actual_end = actual_end
        ids = np.arange(1, n + 1)
        type_names = np.array(["Standard", "Normal", "Emergency"], dtype=object)[kind]
        summaries = []
        for i in range(n):
            s = int(svc[i])
            if kind[i] == 0:
                summaries.append(cat.CHANGE_TEMPLATES[template[i] - 1][0])
            else:
                phrase = cat.CHANGE_SUMMARIES[int(rng.integers(len(cat.CHANGE_SUMMARIES)))]
                summaries.append(phrase.format(ci=f"CI {ci[i]}", svc=cat.SERVICES[s - 1][0]))
        ci_names = self.conn.execute(select(ConfigurationItem.id, ConfigurationItem.name)).all()
        ci_name = dict(ci_names)
        summaries = [t.replace(f"CI {ci[i]}", ci_name[int(ci[i])]) for i, t in enumerate(summaries)]
        self._bulk(
            ChangeRequest,
            {
                "id": ids,
                "number": [f"CHG{i:07d}" for i in ids.tolist()],
                "short_description": summaries,
                "description": summaries,
                "type": type_names,
                "template_id": Nullable(template, kind != 0),
                "state": state,
                "risk": risk,
                "risk_score": Nullable(risk_score, kind == 0),
                "justification": ["Keeps the service supported and secure."] * n,
                "implementation_plan": ["1. Announce start\n2. Apply the change\n3. Verify service"]
                * n,
                "test_plan": ["Functional check of the service by the owning team."] * n,
                "backout_plan": ["Restore the previous version from the snapshot."] * n,
                "planned_start": _ts(start),
                "planned_end": _ts(end),
                "actual_start": _ts(actual_start),
                "actual_end": _ts(actual_end),
                "service_id": svc,
                "assignment_group_id": group,
                "assignee_id": assignee,
                "requested_by_id": requester,
                "vendor_id": Nullable(self.service_vendor[svc], self.service_vendor[svc] == 0),
                "opened_at": _ts(opened),
                "closed_at": _ts(closed_at),
                "close_code": close_code,
                "close_notes": np.where(close_code == None, None, "Implemented as planned.").astype(  # noqa: E711
                    object
                ),
                "created_at": _ts(opened),
                "updated_at": _ts(
                    np.maximum(opened, np.where(closed_at == NONE, opened, closed_at))
                ),
                "version": np.ones(n, dtype=np.int64),
            },
            "changes",
        )
        extra = rng.random(n) < 0.4
        ci2 = self.ci_first[svc] + (ci - self.ci_first[svc] + 1) % self.ci_count[svc]
        ci_pairs = set(zip(ids.tolist(), ci.tolist(), strict=True))
        ci_pairs |= set(zip(ids[extra].tolist(), ci2[extra].tolist(), strict=True))
        pairs = sorted(ci_pairs)
        self._bulk(change_ci, {"change_id": [a for a, _ in pairs], "ci_id": [b for _, b in pairs]})
        self._bulk(change_service, {"change_id": ids, "service_id": svc})
        scored = np.flatnonzero(kind != 0)
        self._bulk(
            RiskAnswer,
            {
                "change_id": np.tile(ids[scored], len(answers)),
                "question_id": np.repeat(np.arange(1, len(answers) + 1), len(scored)),
                "option_id": np.concatenate([a[scored] for a in answers]),
            },
        )
        reviewed = np.flatnonzero(implemented & ((kind == 2) | (close_code == "Unsuccessful")))
        self._rows(
            ChangeReview,
            [
                {
                    "change_id": int(i + 1),
                    "reviewed_on": _instant(end[i] + 5 * DAY).date(),
                    "outcome": "Failed; backed out."
                    if close_code[i] == "Unsuccessful"
                    else "Completed.",
                    "lessons": "Review the test plan with the CAB before the next attempt.",
                    "reviewer_id": 1,
                    "created_at": _instant(end[i] + 5 * DAY),
                    "updated_at": _instant(end[i] + 5 * DAY),
                }
                for i in reviewed
                if end[i] + 5 * DAY < self.anchor
            ],
        )
        self._windows()
        self._cab(kind, start, state, close_code)

    def _windows(self) -> None:
        rows = []
        first_year = _instant(self.start).year
        for year in range(first_year, _instant(self.anchor).year + 1):
            rows.append(
                {
                    "kind": "blackout",
                    "name": f"Year-end change freeze {year}",
                    "starts_at": dt.datetime(year, 12, 15, tzinfo=UTC),
                    "ends_at": dt.datetime(year + 1, 1, 5, tzinfo=UTC),
                    "reason": "Peak trading and reduced staffing.",
                }
            )
            for month in (3, 6, 9, 12):
                last = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
                rows.append(
                    {
                        "kind": "blackout",
                        "name": f"Quarter-end close {year}-{month:02d}",
                        "starts_at": dt.datetime.combine(
                            last - dt.timedelta(days=2), dt.time(), UTC
                        ),
                        "ends_at": dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), UTC),
                        "service_id": cat.SERVICES.index(
                            next(s for s in cat.SERVICES if s[0] == "ERP")
                        )
                        + 1,
                        "reason": "Finance quarter-end close.",
                    }
                )
        sunday = _instant(self.start).date()
        sunday += dt.timedelta(days=(6 - sunday.weekday()) % 7)
        rows.append(
            {
                "kind": "maintenance",
                "name": "Sunday maintenance window",
                "starts_at": dt.datetime.combine(sunday, dt.time(2), UTC),
                "ends_at": dt.datetime.combine(sunday, dt.time(6), UTC),
                "recurrence": "FREQ=WEEKLY;BYDAY=SU",
                "reason": "Standing weekly window.",
            }
        )
        wednesday = sunday + dt.timedelta(days=3)
        rows.append(
            {
                "kind": "maintenance",
                "name": "Network maintenance (Wednesday night)",
                "starts_at": dt.datetime.combine(wednesday, dt.time(22), UTC),
                "ends_at": dt.datetime.combine(wednesday + dt.timedelta(days=1), dt.time(2), UTC),
                "recurrence": "FREQ=WEEKLY;BYDAY=WE",
                "service_id": 3,
                "reason": "Network team's standing window.",
            }
        )
        for r in rows:
            r.setdefault("service_id", None)
            r.setdefault("recurrence", None)
            r.setdefault("ci_id", None)
        self._rows(ChangeWindow, rows, "change windows")

    def _cab(
        self, kind: np.ndarray, start: np.ndarray, state: np.ndarray, close_code: np.ndarray
    ) -> None:
        rng = self.rng
        first = self.start + ((1 - ((self.start // DAY + 3) % 7)) % 7) * DAY + 10 * HOUR  # Tuesday
        meetings = np.arange(first, self.anchor + 15 * DAY, 7 * DAY)
        board = [1, 2, *self.members[self.team_id["Change Management"]][:3]]
        m_rows, a_rows, item_rows, vote_rows = [], [], [], []
        for m, at in enumerate(meetings.tolist(), start=1):
            held = at + HOUR <= self.anchor
            m_rows.append(
                {
                    "id": m,
                    "title": "Weekly CAB",
                    "starts_at": _instant(at),
                    "ends_at": _instant(at + HOUR),
                    "location": "Room 4.12 / bridge",
                    "chair_id": 2,
                    "emergency": False,
                    "state": "closed" if held else "planned",
                    "minutes": "Decisions recorded per agenda item." if held else "",
                }
            )
            present = board if held else board
            a_rows += [
                {
                    "meeting_id": m,
                    "person_id": p,
                    "present": bool(held and rng.random() > 0.1) or not held,
                }
                for p in present
            ]
        # Each normal change goes to the last meeting at least two days before it starts.
        normal = np.flatnonzero(kind == 1)
        slot = np.searchsorted(meetings, start[normal] - 2 * DAY, side="right") - 1
        position: dict[int, int] = {}
        item_id = 0
        for idx, s in zip(normal.tolist(), slot.tolist(), strict=True):
            if s < 0:
                continue
            meeting = s + 1
            held = meetings[s] + HOUR <= self.anchor
            if not held and state[idx] not in ("Authorize", "Scheduled"):
                continue
            item_id += 1
            position[meeting] = position.get(meeting, 0) + 1
            if held:
                decision = "rejected" if state[idx] == "Canceled" else "approved"
                if state[idx] == "Authorize":
                    decision = rng.choice(["deferred", "more_info"])
            else:
                decision = "approved" if state[idx] == "Scheduled" else None
                if decision is None or meetings[s] > self.anchor:
                    decision = None
            item_rows.append(
                {
                    "id": item_id,
                    "meeting_id": meeting,
                    "change_id": idx + 1,
                    "position": position[meeting],
                    "decision": decision,
                    "conditions": "Implement inside the approved window."
                    if decision == "approved"
                    else "",
                    "notes": "",
                    "decided_at": _instant(meetings[s] + 1800) if decision else None,
                }
            )
            if decision:
                for p in board[: int(rng.integers(3, len(board) + 1))]:
                    vote = (
                        "approve"
                        if decision == "approved"
                        else ("reject" if decision == "rejected" else "abstain")
                    )
                    vote_rows.append(
                        {"agenda_item_id": item_id, "person_id": p, "vote": vote, "comment": ""}
                    )
        self._rows(CabMeeting, m_rows, "CAB meetings")
        self._rows(cab_attendee, a_rows)
        self._rows(CabAgendaItem, item_rows)
        self._rows(CabVote, vote_rows)

    # -- problems -----------------------------------------------------------------------

    def problems(self) -> None:
        rng = self.rng
        n = max(10, self.n // 500)
        svc = rng.choice(self.n_services, n, p=self.service_weight / self.service_weight.sum()) + 1
        order = np.argsort(svc, kind="stable")
        svc = svc[order]
        opened = self.start + rng.integers(0, self.anchor - self.start, n)
        age = self.anchor - opened
        done = (age > 60 * DAY) & (rng.random(n) < 0.85)
        state = np.where(
            done, "Closed", rng.choice(["New", "Root Cause Analysis", "Known Error"], n)
        ).astype(object)
        resolved = np.where(done, opened + rng.integers(5, 60, n) * DAY, NONE)
        descriptions = [
            f"Recurring: {cat.SERVICES[s - 1][7][int(rng.integers(len(cat.SERVICES[s - 1][7])))]}"
            for s in svc.tolist()
        ]
        group = self.service_group[svc]
        ids = np.arange(1, n + 1)
        self._bulk(
            Problem,
            {
                "id": ids,
                "number": [f"PRB{i:07d}" for i in ids.tolist()],
                "short_description": descriptions,
                "description": descriptions,
                "state": state,
                "service_id": svc,
                "assignment_group_id": group,
                "assignee_id": self.member_flat[self.member_start[group - 1]],
                "root_cause": np.where(done, "Identified and fixed through a change.", "").astype(
                    object
                ),
                "workaround": np.where(
                    state == "Known Error", "Restart the affected component.", ""
                ).astype(object),
                "known_error": state == "Known Error",
                "opened_at": _ts(opened),
                "resolved_at": _ts(resolved),
                "created_at": _ts(opened),
                "updated_at": _ts(np.where(resolved == NONE, opened, resolved)),
                "version": np.ones(n, dtype=np.int64),
            },
            "problems",
        )
        counts = np.bincount(svc, minlength=self.n_services + 1)
        self.problem_start = np.concatenate(([1], 1 + np.cumsum(counts)[:-1]))
        self.problem_count = counts

    # -- incidents ------------------------------------------------------------------------

    def incidents(self) -> None:
        n, rng = self.n, self.rng
        if n == 0:
            self.counts["incidents"] = 0
            return
        # Arrivals: weekday and hour seasonality, gentle growth over two years.
        days = np.arange(731)
        weekday = (self.start // DAY + days + 3) % 7
        weights = WEEKDAY_FACTOR[weekday] * (1 + 0.2 * days / 730)
        weights[-1] *= ((self.anchor - self.start) % DAY) / DAY or 1.0
        d = rng.choice(731, n, p=weights / weights.sum())
        h = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
        opened = self.start + d * DAY + h * HOUR + rng.integers(0, HOUR, n)
        late = opened >= self.anchor
        opened[late] = self.anchor - rng.integers(60, 6 * HOUR, int(late.sum()))
        opened.sort()

        svc = rng.choice(self.n_services, n, p=self.service_weight / self.service_weight.sum()) + 1
        ci = self.ci_first[svc] + rng.integers(0, self.ci_count[svc])
        crit1 = self.service_criticality[svc] == 1
        u = rng.random(n)
        impact = 1 + (u > np.where(crit1, 0.10, 0.05)) + (u > np.where(crit1, 0.50, 0.40))
        urgency = rng.choice([1, 2, 3], n, p=[0.10, 0.45, 0.45])
        priority = self.matrix[impact, urgency]

        vendor_of_svc = self.service_vendor[svc]
        attributed = (vendor_of_svc > 0) & (rng.random(n) < 0.35)
        vendor = np.where(attributed, vendor_of_svc, 0)
        quality = np.where(attributed, self.vendor_quality[np.maximum(vendor - 1, 0)], 1.0)

        contact = rng.choice(4, n, p=[0.25, 0.20, 0.40, 0.15])
        monitoring = contact == 3
        caller = rng.integers(1, self.n_people + 1, n)
        desk = np.array([self.team_id[d] for d in cat.SERVICE_DESKS])[
            self.person_region[caller - 1]
        ]
        resolver = self.service_group[svc].copy()
        laptops = svc == 1 + next(
            i for i, s in enumerate(cat.SERVICES) if s[0] == "Laptops & Desktops"
        )
        desktop = np.array(
            [self.team_id[f"Desktop Support {r}"] for r in ("EMEA", "Americas", "APAC")]
        )
        resolver[laptops] = desktop[self.person_region[caller[laptops] - 1]]
        via_vendor = attributed & np.isin(vendor, list(self.vendor_team)) & (rng.random(n) < 0.5)
        vendor_team = np.zeros(len(self.vendor_names) + 1, dtype=np.int64)
        for v, t in self.vendor_team.items():
            vendor_team[v] = t
        resolver[via_vendor] = vendor_team[vendor[via_vendor]]
        first_line = ~monitoring & (priority >= 3) & ~attributed & (rng.random(n) < 0.38)
        first_group = np.where(monitoring, resolver, desk)
        group = np.where(first_line, desk, resolver)
        extra = (rng.random(n) < 0.15).astype(np.int64) + (rng.random(n) < 0.04)
        reassign = np.where(group != first_group, 1 + extra, 0)
        assignee = self.member_flat[
            self.member_start[group - 1] + rng.integers(0, self.member_count[group - 1])
        ]

        # Majors: about 3% of P1s, and one in progress right now.
        p1 = np.flatnonzero(priority == 1)
        major = np.zeros(n, dtype=bool)
        if len(p1):
            major[rng.choice(p1, max(1, round(len(p1) * 0.03)), replace=False)] = True
        now_major = n - 1
        impact[now_major] = urgency[now_major] = priority[now_major] = 1
        major[now_major] = True
        opened[now_major] = self.anchor - 95 * 60

        # Durations: long-tailed by priority, scaled by vendor and group speed.
        pi = priority - 1
        response = (
            np.exp(np.log(RESPONSE_MEDIAN[pi]) + 0.9 * rng.standard_normal(n)).astype(np.int64) + 30
        )
        resolve = np.exp(np.log(RESOLVE_MEDIAN[pi]) + RESOLVE_SIGMA[pi] * rng.standard_normal(n))
        resolve = resolve * quality * self.group_speed[group]
        resolve = np.where(first_line, resolve * 0.25, resolve)
        resolve = np.where(major, np.exp(np.log(5 * HOUR) + 0.6 * rng.standard_normal(n)), resolve)
        resolve = np.maximum(resolve.astype(np.int64), response + 300)
        resolve[now_major] = 30 * DAY  # still being worked

        has_hold = (rng.random(n) < HOLD_CHANCE[pi]) & ~major
        reason = np.where(
            attributed & (rng.random(n) < 0.6), 3, rng.choice(4, n, p=[0.6, 0.1, 0.05, 0.25])
        )
        hold_start = (
            opened + response + ((resolve - response) * rng.uniform(0.1, 0.6, n)).astype(np.int64)
        )
        hold_len = np.exp(np.log(18 * HOUR) + rng.standard_normal(n)).astype(np.int64) + 600
        hold_end = hold_start + hold_len
        first_resolved = opened + resolve + np.where(has_hold, hold_len, 0)

        canceled = (rng.random(n) < 0.015) & ~major & (opened + 2 * response < self.anchor)
        r = rng.random(n)
        reopens = ((r < 0.045).astype(np.int64) + (r < 0.006)) * ~major * ~canceled
        gap1 = np.exp(np.log(20 * HOUR) + 0.8 * rng.standard_normal(n)).astype(np.int64) + 600
        work1 = np.exp(np.log(8 * HOUR) + rng.standard_normal(n)).astype(np.int64) + 600
        reopen1 = np.where(reopens >= 1, first_resolved + gap1, NONE)
        resolved2 = np.where(reopens >= 1, reopen1 + work1, first_resolved)
        reopen2 = np.where(reopens >= 2, resolved2 + gap1 // 2, NONE)
        resolved = np.where(reopens >= 2, reopen2 + work1 // 2, resolved2)
        # A reopen still in the future is not part of the story yet.
        unfinished = (reopens > 0) & (resolved > self.anchor)
        reopens = np.where(unfinished, 0, reopens)
        reopen1 = np.where(unfinished, NONE, reopen1)
        reopen2 = np.where(unfinished, NONE, reopen2)
        resolved = np.where(unfinished, first_resolved, resolved)

        # State at the anchor.
        is_open = (resolved > self.anchor) & ~canceled
        responded = opened + response <= self.anchor
        on_hold_now = is_open & has_hold & (hold_start <= self.anchor) & (hold_end > self.anchor)
        state = np.full(n, CLOSED)
        state[~canceled & ~is_open & (resolved + AUTO_CLOSE > self.anchor)] = RESOLVED
        state[is_open] = IN_PROGRESS
        state[is_open & ~responded] = NEW
        state[on_hold_now] = ON_HOLD
        state[canceled] = CANCELED
        new = state == NEW
        assignee_null = new & (rng.random(n) < 0.6)
        group = np.where(new, first_group, group)
        reassign = np.where(new, 0, reassign)
        first_response = np.where((responded | canceled) & ~new, opened + response, NONE)
        finished = (state == RESOLVED) | (state == CLOSED)
        resolved_at = np.where(finished, resolved, NONE)
        closed_at = np.where(state == CLOSED, resolved + AUTO_CLOSE, NONE)
        closed_at = np.where(canceled, opened + 2 * response, closed_at)
        updated = np.select(
            [state == CLOSED, state == RESOLVED, canceled, on_hold_now],
            [closed_at, resolved_at, closed_at, hold_start],
            np.where(responded, opened + response, opened),
        )
        hold_started = has_hold & (hold_start <= self.anchor) & ~canceled
        hold_reason = np.where(on_hold_now, HOLD_REASONS[reason], None).astype(object)

        # Links: problems, the change that caused it.
        linked = (rng.random(n) < 0.03) & (self.problem_count[svc] > 0)
        problem = np.where(
            linked,
            self.problem_start[svc] + rng.integers(0, np.maximum(self.problem_count[svc], 1)),
            0,
        )
        caused_by = np.zeros(n, dtype=np.int64)
        for c in np.flatnonzero(self.change_failed).tolist():
            end = self.change_actual_end[c]
            lo, hi = np.searchsorted(opened, [end, end + 2 * DAY])
            hits = lo + np.flatnonzero(svc[lo:hi] == self.change_service[c])[:2]
            caused_by[hits] = c + 1

        # SLA clocks, then the incident rows (made_sla comes from the resolution clock).
        g = _Generated(
            opened=opened,
            priority=priority,
            caller=caller,
            assignee=assignee,
            group=group,
            first_group=first_group,
            reassign=reassign,
            first_response=first_response,
            resolved_at=resolved_at,
            closed_at=closed_at,
            canceled=canceled,
            state=state,
            hold_started=hold_started,
            hold_start=hold_start,
            hold_end=hold_end,
            reason=reason,
            on_hold_now=on_hold_now,
            first_resolved=first_resolved,
            reopen1=reopen1,
            reopen2=reopen2,
            resolved2=resolved2,
            new=new,
        )
        clocks = self._sla_clocks(g)
        made_sla = Nullable(~clocks["resolution_breached"], ~finished)
        sla_due, sla_stage = _shown_clock(clocks)
        self._say(f"{n:,} incidents generated; writing")

        ids = np.arange(1, n + 1)
        descriptions = self._descriptions(svc)
        code_names = np.array([c for c, _ in cat.RESOLUTION_CODES], dtype=object)
        code_p = np.array([p for _, p in cat.RESOLUTION_CODES])
        code = code_names[rng.choice(len(code_names), n, p=code_p / code_p.sum())]
        notes = np.array(cat.RESOLUTION_NOTES, dtype=object)[
            rng.integers(0, len(cat.RESOLUTION_NOTES), n)
        ]
        g.notes = notes
        declared = np.where(major, opened + rng.integers(5, 30, n) * 60, NONE)
        major_status = np.where(
            major,
            np.where(is_open, np.where(responded, "identified", "investigating"), "resolved"),
            None,
        ).astype(object)
        major_status[now_major] = "investigating"
        incident_table = Incident.__table__
        event_table = IncidentEvent.__table__
        clock_table = SlaClock.__table__
        dropped = self.writer.drop_indexes([incident_table, event_table, clock_table])
        self._bulk(
            Incident,
            {
                "id": ids,
                "number": np.char.add("INC", np.char.zfill(ids.astype(str), 7)).astype(object),
                "short_description": descriptions,
                "description": descriptions,
                "caller_id": Nullable(caller, monitoring),
                "contact_type": CONTACT_TYPES[contact],
                "category": np.array([s[5] for s in cat.SERVICES], dtype=object)[svc - 1],
                "subcategory": np.array([s[6][0] for s in cat.SERVICES], dtype=object)[svc - 1],
                "service_id": svc,
                "ci_id": ci,
                "impact": impact,
                "urgency": urgency,
                "priority": priority,
                "priority_overridden": np.zeros(n, dtype=bool),
                "state": STATES[state],
                "hold_reason": hold_reason,
                "assignment_group_id": group,
                "first_group_id": first_group,
                "assignee_id": Nullable(assignee, assignee_null),
                "vendor_id": Nullable(vendor, vendor == 0),
                "problem_id": Nullable(problem, problem == 0),
                "caused_by_change_id": Nullable(caused_by, caused_by == 0),
                "opened_at": _ts(opened),
                "first_response_at": _ts(first_response),
                "resolved_at": _ts(resolved_at),
                "closed_at": _ts(closed_at),
                "resolution_code": Nullable(code, ~finished),
                "resolution_notes": Nullable(notes, ~finished),
                "reassignment_count": reassign,
                "reopen_count": reopens,
                "made_sla": made_sla,
                "sla_due_at": _ts(sla_due),
                "sla_stage": sla_stage,
                "is_major": major,
                "major_declared_at": _ts(declared),
                "major_status": major_status,
                "created_at": _ts(opened),
                "updated_at": _ts(updated),
                "version": 1 + reassign + (state >= RESOLVED) + reopens,
            },
            "incidents",
        )
        self._say("incidents written")
        self._bulk(SlaClock, clocks["columns"], "SLA clocks")
        self._say("SLA clocks written")
        self._events(g)
        self._say("incident timelines written")
        self.writer.create_indexes(dropped)
        self._say("incident indexes built")
        self._surveys(opened, resolved_at, reassign, clocks["resolution_breached"], finished)
        self._majors(np.flatnonzero(major), opened, resolved_at, svc, declared, is_open)
        self._say("surveys and major incidents written")
        self.incident_arrays = {
            "opened": opened,
            "resolved": resolved_at,
            "vendor": vendor,
            "svc": svc,
            "breached": clocks["resolution_breached"],
            "finished": finished,
            "resolution_stop": clocks["resolution_stop"],
        }

    def _descriptions(self, svc: np.ndarray) -> np.ndarray:
        phrases, starts, counts = [], [], []
        for s in cat.SERVICES:
            starts.append(len(phrases))
            counts.append(len(s[7]))
            phrases.extend(s[7])
        table = np.array(phrases, dtype=object)
        starts_a, counts_a = np.array(starts), np.array(counts)
        return table[starts_a[svc - 1] + self.rng.integers(0, counts_a[svc - 1])]

    def _sla_clocks(self, g: _Generated) -> dict[str, Any]:
        n = self.n
        business = g.priority >= BUSINESS_HOURS_FROM
        cal = self.calendar
        always = BusinessCalendar.always()

        def elapsed(a: np.ndarray, b: np.ndarray, rows: np.ndarray) -> np.ndarray:
            """Business seconds in [a, b) of the incidents ``rows`` (a and b are per row)."""
            out = np.empty(len(rows), dtype=np.int64)
            bh = business[rows]
            out[~bh] = always.elapsed(a[~bh], b[~bh])
            out[bh] = cal.elapsed(a[bh], b[bh])
            return out

        def add(a: np.ndarray, seconds: np.ndarray, rows: np.ndarray) -> np.ndarray:
            out = np.empty(len(rows), dtype=np.int64)
            bh = business[rows]
            out[~bh] = always.add(a[~bh], seconds[~bh])
            out[bh] = cal.add(a[bh], seconds[bh])
            return out

        pi = g.priority - 1
        columns: dict[str, list[np.ndarray]] = {}
        result: dict[str, Any] = {}
        for target, duration, def_offset in (
            ("response", RESPONSE_TARGET[pi], 0),
            ("resolution", RESOLUTION_TARGET[pi], 5),
        ):
            if target == "response":
                # Stop wins over cancel: a canceled incident had its first response first.
                stop = g.first_response
                canceled = np.zeros(n, dtype=bool)
                pauses: list[tuple[np.ndarray, np.ndarray]] = []
                paused_now = np.zeros(n, dtype=bool)
            else:
                stop = np.where(g.canceled, NONE, g.resolved_at)
                canceled = g.canceled
                pausing = g.hold_started & np.isin(g.reason, PAUSING_REASONS)
                paused_now = g.on_hold_now & np.isin(g.reason, PAUSING_REASONS)
                # Pauses in time order: the hold (if its reason pauses), then the time spent
                # Resolved before each reopen. Absent ones are empty spans at the last edge.
                h_start = np.where(pausing, g.hold_start, g.opened)
                h_end = np.where(pausing, np.minimum(g.hold_end, self.anchor), g.opened)
                r1 = g.reopen1 != NONE
                r2 = g.reopen2 != NONE
                g1_start = np.where(r1, g.first_resolved, h_end)
                g1_end = np.where(r1, g.reopen1, h_end)
                g2_start = np.where(r2, g.resolved2, g1_end)
                g2_end = np.where(r2, g.reopen2, g1_end)
                pauses = [(h_start, h_end), (g1_start, g1_end), (g2_start, g2_end)]
            stopped = stop != NONE
            end = np.where(stopped, stop, np.where(canceled, g.closed_at, self.anchor))
            used, due = self._clock_walk(g.opened, pauses, end, duration, elapsed, add)
            paused_wall = (pauses[0][1] - pauses[0][0]) if pauses else np.zeros(n, dtype=np.int64)
            # A finished clock breached if it used more than its target; a running one as
            # soon as it has used all of it.
            breached = np.where(stopped, used > duration, used >= duration)
            stage = np.where(
                stopped,
                np.where(breached, "breached", "achieved"),
                np.where(paused_now, "paused", np.where(breached, "breached", "in_progress")),
            )
            stage = np.where(canceled, "canceled", stage).astype(object)
            breached = breached & ~canceled
            stop_at = np.where(canceled, g.closed_at, np.where(stopped, stop, NONE))
            columns.setdefault("incident_id", []).append(np.arange(1, n + 1))
            columns.setdefault("definition_id", []).append(g.priority + def_offset)
            columns.setdefault("stage", []).append(stage)
            columns.setdefault("started_at", []).append(g.opened)
            columns.setdefault("stopped_at", []).append(stop_at)
            columns.setdefault("due_at", []).append(due)
            columns.setdefault("paused_since", []).append(np.where(paused_now, g.hold_start, NONE))
            columns.setdefault("business_elapsed_seconds", []).append(used)
            columns.setdefault("paused_seconds", []).append(paused_wall)
            columns.setdefault("computed_at", []).append(
                np.where(stop_at == NONE, self.anchor, stop_at)
            )
            columns.setdefault("breached", []).append(breached)
            result[f"{target}_breached"] = breached
            result[f"{target}_stop"] = stop_at
            result[f"{target}_stage"] = stage
            result[f"{target}_due"] = due
        # Interleave so that an incident's clocks sit next to each other.
        merged: dict[str, Any] = {}
        for name, parts in columns.items():
            merged[name] = np.stack(parts, axis=1).reshape(-1)
        for name in ("started_at", "stopped_at", "due_at", "paused_since", "computed_at"):
            merged[name] = _ts(merged[name])
        merged["version"] = np.ones(2 * n, dtype=np.int64)
        merged["id"] = np.arange(1, 2 * n + 1)
        result["columns"] = merged
        return result

    @staticmethod
    def _clock_walk(
        opened: np.ndarray,
        pauses: list[tuple[np.ndarray, np.ndarray]],
        end: np.ndarray,
        duration: np.ndarray,
        elapsed: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
        add: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Business time used by ``end`` and the due instant, for clocks that run from
        ``opened`` except in the ordered ``pauses``; the SLA engine's rules in bulk.

        The clock is taken to run on after its last pause (or its stop) for the due date:
        a breached clock is due when it breached, any other when it would breach. Only the
        rows whose piece is not empty are computed (most incidents never pause).
        """
        starts = [opened] + [b for _, b in pauses]
        stops = [a for a, _ in pauses] + [None]
        used = np.zeros_like(opened)
        due = np.full_like(opened, NONE)
        last = len(starts) - 1
        for k, (seg_start, seg_stop) in enumerate(zip(starts, stops, strict=True)):
            limit = end if seg_stop is None else seg_stop
            rows = np.flatnonzero((limit > seg_start) | ((k == last) & (due == NONE)))
            a = seg_start[rows]
            b = np.maximum(a, np.minimum(limit[rows], end[rows]))
            piece = elapsed(a, b, rows)
            if seg_stop is None:
                reach = due[rows] == NONE  # the last piece runs on for as long as it takes
            else:
                length = elapsed(a, np.maximum(a, seg_stop[rows]), rows)
                reach = (due[rows] == NONE) & (used[rows] + length >= duration[rows])
            hit = rows[reach]
            if len(hit):
                left = np.maximum(duration[hit] - used[hit], 0)
                due[hit] = add(seg_start[hit], left, hit)
            used[rows] += piece
        return used, due

    def _events(self, g: _Generated) -> None:
        rng = self.rng
        n = self.n
        ids = np.arange(1, n + 1)
        names = self.team_names
        parts: list[dict[str, Any]] = []

        def add(mask, at, kind, author, field=None, old=None, new_value=None, text=None):
            idx = np.flatnonzero(mask)
            k = len(idx)

            def col(v):
                if v is None:
                    return np.full(k, None, dtype=object)
                if isinstance(v, np.ndarray):
                    return v[idx]
                return np.full(k, v, dtype=object)

            parts.append(
                {
                    "incident_id": ids[idx],
                    "at": at[idx],
                    "author_id": author[idx],
                    "kind": col(kind),
                    "field": col(field),
                    "old_value": col(old),
                    "new_value": col(new_value),
                    "text": col(text),
                }
            )

        who = np.where(g.new, 0, g.assignee)  # nobody has worked a New incident yet
        moved = g.reassign > 0
        add(
            moved,
            g.opened + (np.maximum(g.first_response, g.opened) - g.opened) // 2 + 60,
            "assignment",
            who,
            "assignment_group",
            names[g.first_group - 1],
            names[g.group - 1],
        )
        responded = g.first_response != NONE
        add(
            responded,
            g.first_response,
            "work_note",
            who,
            text=np.array(cat.WORK_NOTES, dtype=object)[rng.integers(0, len(cat.WORK_NOTES), n)],
        )
        add(
            g.hold_started,
            g.hold_start,
            "state",
            who,
            "state",
            "In Progress",
            "On Hold",
            text=HOLD_REASONS[g.reason],
        )
        add(
            g.hold_started & ~g.on_hold_now & (g.hold_end <= self.anchor),
            g.hold_end,
            "state",
            who,
            "state",
            "On Hold",
            "In Progress",
        )
        solved_once = (
            (g.first_resolved <= self.anchor)
            & (g.state != CANCELED)
            & ((g.state == RESOLVED) | (g.state == CLOSED) | (g.reopen1 != NONE))
        )
        add(
            solved_once,
            g.first_resolved,
            "state",
            who,
            "state",
            "In Progress",
            "Resolved",
            text=g.notes,
        )
        add(
            g.reopen1 != NONE,
            g.reopen1,
            "state",
            g.caller,
            "state",
            "Resolved",
            "In Progress",
            text="Caller reports the issue is back.",
        )
        add(
            g.reopen1 != NONE,
            g.resolved2,
            "state",
            who,
            "state",
            "In Progress",
            "Resolved",
            text=g.notes,
        )
        add(
            g.reopen2 != NONE,
            g.reopen2,
            "state",
            g.caller,
            "state",
            "Resolved",
            "In Progress",
            text="Caller reports the issue is back again.",
        )
        add(
            g.reopen2 != NONE,
            g.resolved_at,
            "state",
            who,
            "state",
            "In Progress",
            "Resolved",
            text=g.notes,
        )
        add(
            g.state == CANCELED,
            g.closed_at,
            "state",
            who,
            "state",
            "New",
            "Canceled",
            text="Duplicate of an existing incident.",
        )
        columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        order = np.lexsort((columns["at"], columns["incident_id"]))
        columns = {key: value[order] for key, value in columns.items()}
        columns["at"] = _ts(columns["at"])
        columns["author_id"] = Nullable(columns["author_id"], columns["author_id"] == 0)
        columns["id"] = np.arange(1, len(order) + 1)
        self._bulk(IncidentEvent, columns, "incident events")

    def _surveys(self, opened, resolved_at, reassign, breached, finished) -> None:
        rng = self.rng
        answered = finished & (rng.random(self.n) < 0.12)
        at = resolved_at + np.exp(np.log(6 * HOUR) + rng.standard_normal(self.n)).astype(np.int64)
        answered &= at <= self.anchor
        idx = np.flatnonzero(answered)
        good_p = 0.88 - 0.2 * breached[idx] - 0.08 * (reassign[idx] > 0)
        good = rng.random(len(idx)) < good_p
        csat = np.where(
            good,
            rng.choice([4, 5], len(idx), p=[0.45, 0.55]),
            rng.choice([1, 2, 3], len(idx), p=[0.25, 0.35, 0.40]),
        )
        nps = np.where(
            good,
            rng.choice(np.arange(6, 11), len(idx), p=[0.05, 0.1, 0.2, 0.3, 0.35]),
            rng.integers(0, 8, len(idx)),
        )
        self._bulk(
            SurveyResponse,
            {
                "incident_id": idx + 1,
                "responded_at": _ts(at[idx]),
                "csat": csat,
                "nps": nps,
                "comment": np.where(
                    csat <= 2,
                    "Took too long and I had to chase.",
                    np.where(csat == 5, "Quick and friendly, thank you.", None),
                ).astype(object),
            },
            "survey responses",
        )

    def _majors(self, majors, opened, resolved_at, svc, declared, is_open) -> None:
        rng = self.rng
        outage, updates, comms, reviews, actions = [], [], [], [], []
        managers = self.members[self.team_id["Major Incident Management"]]
        review_id = 0
        for i in majors.tolist():
            inc = i + 1
            start = int(opened[i] - rng.integers(0, 15) * 60)
            end = int(resolved_at[i]) if resolved_at[i] != NONE else None
            outage.append(
                {
                    "service_id": int(svc[i]),
                    "incident_id": inc,
                    "started_at": _instant(start),
                    "ended_at": _instant(end) if end else None,
                    "partial": bool(rng.random() < 0.3),
                }
            )
            until = end if end else self.anchor
            t = int(declared[i])
            step = 0
            author = int(managers[int(rng.integers(len(managers)))])
            while t < until and step < len(cat.MAJOR_UPDATES) - 1:
                status, text = cat.MAJOR_UPDATES[min(step, len(cat.MAJOR_UPDATES) - 2)]
                updates.append(
                    {
                        "incident_id": inc,
                        "at": _instant(t),
                        "author_id": author,
                        "status": status,
                        "text": text,
                    }
                )
                t += int(rng.integers(30, 90)) * 60
                step += 1
            if end:
                status, text = cat.MAJOR_UPDATES[-1]
                updates.append(
                    {
                        "incident_id": inc,
                        "at": _instant(end),
                        "author_id": author,
                        "status": status,
                        "text": text,
                    }
                )
            comms.append(
                {
                    "incident_id": inc,
                    "at": _instant(int(declared[i]) + 600),
                    "author_id": author,
                    "channel": "email",
                    "audience": "All staff",
                    "message": f"We are aware of a problem with {cat.SERVICES[svc[i] - 1][0]} "
                    "and are working on it. Next update within the hour.",
                }
            )
            comms.append(
                {
                    "incident_id": inc,
                    "at": _instant(int(declared[i]) + 900),
                    "author_id": author,
                    "channel": "status page",
                    "audience": "Customers",
                    "message": f"{cat.SERVICES[svc[i] - 1][0]}: investigating degraded service.",
                }
            )
            if end:
                comms.append(
                    {
                        "incident_id": inc,
                        "at": _instant(end + 600),
                        "author_id": author,
                        "channel": "email",
                        "audience": "All staff",
                        "message": f"{cat.SERVICES[svc[i] - 1][0]} is restored. A review will follow.",
                    }
                )
            if end and end + 5 * DAY < self.anchor:
                review_id += 1
                held = _instant(end + 5 * DAY).date()
                reviews.append(
                    {
                        "id": review_id,
                        "incident_id": inc,
                        "held_on": held,
                        "timeline_summary": "Declared, diagnosed, fixed and monitored; see the timeline.",
                        "root_cause": cat.ROOT_CAUSES[int(rng.integers(len(cat.ROOT_CAUSES)))],
                        "contributing_factors": "Alerting did not fire early; runbook out of date.",
                        "status": "complete" if end + 35 * DAY < self.anchor else "draft",
                        "created_at": _instant(end + 5 * DAY),
                        "updated_at": _instant(end + 5 * DAY),
                    }
                )
                for k in range(int(rng.integers(2, 4))):
                    due = held + dt.timedelta(days=int(rng.integers(14, 60)))
                    done = (
                        due < _instant(self.anchor).date() - dt.timedelta(days=10)
                        and rng.random() < 0.8
                    )
                    actions.append(
                        {
                            "review_id": review_id,
                            "description": cat.CORRECTIVE_ACTIONS[
                                (inc + k) % len(cat.CORRECTIVE_ACTIONS)
                            ],
                            "owner_id": int(
                                self.member_flat[int(rng.integers(len(self.member_flat)))]
                            ),
                            "due_on": due,
                            "status": "done" if done else "open",
                            "completed_at": dt.datetime.combine(due, dt.time(12), UTC)
                            if done
                            else None,
                            "created_at": _instant(end + 5 * DAY),
                            "updated_at": _instant(end + 5 * DAY),
                        }
                    )
        self._rows(Outage, outage, "outages")
        self._rows(MajorIncidentUpdate, updates)
        self._rows(CommunicationLog, comms)
        self._rows(PostIncidentReview, reviews)
        self._rows(CorrectiveAction, actions)
        self.outages = outage

    # -- on-call ------------------------------------------------------------------------

    def rosters(self) -> None:
        rng = self.rng
        anchor = _instant(self.anchor)
        monday = (anchor - dt.timedelta(days=anchor.weekday() + 7 * 20)).replace(hour=9)
        teams = [
            "Network Operations",
            "Linux Platform",
            "Windows Server",
            "Database Administration",
            "Cloud Platform Azure",
            "Cloud Platform AWS",
            "Security Operations",
            "SAP Basis",
            "Storage & Backup",
            "E-commerce Platform",
            "Payments Platform",
            "Identity & Access",
            "Email & Collaboration",
            "Telephony & Contact Centre",
        ]
        schedules, layers, members, overrides, policies, levels = [], [], [], [], [], []
        layer_id = 0
        for s, name in enumerate(teams, start=1):
            team = self.team_id[name]
            people = self.members[team]
            schedules.append(
                {
                    "id": s,
                    "name": f"{name} on call",
                    "team_id": team,
                    "timezone": "Europe/London",
                    "description": "24x7 primary and secondary, weekly handoff Monday 09:00.",
                }
            )
            for position, (role, shift) in enumerate((("primary", 0), ("secondary", 1))):
                layer_id += 1
                layers.append(
                    {
                        "id": layer_id,
                        "schedule_id": s,
                        "name": role.title(),
                        "role": role,
                        "position": position,
                        "rotation_start": monday,
                        "turn_seconds": 7 * DAY,
                        "restrictions": [],
                        "required_skill": None,
                        "required": True,
                        "ends_at": None,
                    }
                )
                order = people[shift:] + people[:shift]
                members += [
                    {"layer_id": layer_id, "person_id": p, "position": k}
                    for k, p in enumerate(order)
                ]
            for k in range(3):
                start = anchor.replace(hour=18) + dt.timedelta(days=int(rng.integers(-20, 21)) + k)
                overrides.append(
                    {
                        "schedule_id": s,
                        "layer_id": layer_id - 1,
                        "person_id": people[int(rng.integers(len(people)))],
                        "starts_at": start,
                        "ends_at": start + dt.timedelta(hours=15),
                        "reason": "Swap agreed with the team lead.",
                    }
                )
            policies.append(
                {
                    "id": s,
                    "name": f"{name} escalation",
                    "team_id": team,
                    "service_id": None,
                    "repeat_count": 1,
                }
            )
            levels += [
                {
                    "policy_id": s,
                    "level": 1,
                    "label": "L1 on call",
                    "timeout_minutes": 15,
                    "schedule_id": s,
                    "layer_role": "primary",
                    "person_id": None,
                    "contact": "Phone and push",
                },
                {
                    "policy_id": s,
                    "level": 2,
                    "label": "L2 secondary",
                    "timeout_minutes": 15,
                    "schedule_id": s,
                    "layer_role": "secondary",
                    "person_id": None,
                    "contact": "Phone",
                },
                {
                    "policy_id": s,
                    "level": 3,
                    "label": "L3 team lead",
                    "timeout_minutes": 30,
                    "schedule_id": None,
                    "layer_role": None,
                    "person_id": people[0],
                    "contact": self._phone(people[0]),
                },
                {
                    "policy_id": s,
                    "level": 4,
                    "label": "Service manager",
                    "timeout_minutes": 60,
                    "schedule_id": None,
                    "layer_role": None,
                    "person_id": 1,
                    "contact": self._phone(1),
                },
            ]
        # Follow the sun: three regional desks, each restricted to its daytime (UTC).
        s = len(teams) + 1
        schedules.append(
            {
                "id": s,
                "name": "Service Desk follow-the-sun",
                "team_id": self.team_id[cat.SERVICE_DESKS[0]],
                "timezone": "UTC",
                "description": "EMEA, Americas and APAC desks hand over every 8 hours.",
            }
        )
        spans = {
            0: [("07:00", "15:00")],
            1: [("15:00", "23:00")],
            2: [("23:00", "24:00"), ("00:00", "07:00")],
        }
        for region, desk in enumerate(cat.SERVICE_DESKS):
            layer_id += 1
            layers.append(
                {
                    "id": layer_id,
                    "schedule_id": s,
                    "name": desk.replace("Service Desk ", ""),
                    "role": "primary",
                    "position": region,
                    "rotation_start": monday.replace(hour=0),
                    "turn_seconds": DAY,
                    "restrictions": [
                        {"days": list(range(7)), "start": a, "end": b} for a, b in spans[region]
                    ],
                    "required_skill": None,
                    "required": True,
                    "ends_at": None,
                }
            )
            members += [
                {"layer_id": layer_id, "person_id": p, "position": k}
                for k, p in enumerate(self.members[self.team_id[desk]])
            ]
        self._rows(OnCallSchedule, schedules, "on-call schedules")
        self._rows(ScheduleLayer, layers)
        self._rows(LayerMember, members)
        self._rows(ScheduleOverride, overrides)
        self._rows(EscalationPolicy, policies)
        self._rows(EscalationLevel, levels)
        leave = []
        for p in range(2, 241):
            for _ in range(int(rng.integers(2, 6))):
                first = _instant(self.start).date() + dt.timedelta(days=int(rng.integers(0, 800)))
                leave.append(
                    {
                        "person_id": p,
                        "starts_on": first,
                        "ends_on": first + dt.timedelta(days=int(rng.integers(1, 11))),
                        "kind": str(rng.choice(["annual", "annual", "annual", "sick", "training"])),
                        "note": "",
                    }
                )
        self._rows(Leave, leave, "leave records")

    def _phone(self, person: int) -> str:
        return f"+44 20 7946 {person:04d}"

    # -- vendors: contracts and scorecards ----------------------------------------------

    def vendors(self) -> None:
        rng = self.rng
        anchor = _instant(self.anchor).date()
        contracts, targets, credits, links = [], [], [], []
        ending_soon = {3, 7, 12}
        for v in range(1, len(self.vendor_names) + 1):
            starts = anchor - dt.timedelta(days=int(rng.integers(300, 1100)))
            ends = (
                (anchor + dt.timedelta(days=int(rng.integers(10, 58))))
                if v in ending_soon
                else (anchor + dt.timedelta(days=int(rng.integers(90, 900))))
            )
            contracts.append(
                {
                    "id": v,
                    "vendor_id": v,
                    "reference": f"CT-{2020 + v % 6}-{v:03d}",
                    "title": f"{self.vendor_names[v - 1]} managed service agreement",
                    "starts_on": starts,
                    "ends_on": ends,
                    "renewal_notice_days": 90,
                    "auto_renew": bool(rng.random() < 0.3),
                    "monthly_fee": round(float(rng.integers(5, 80)) * 1000, 2),
                    "currency": "EUR",
                    "created_at": _instant(self.start),
                    "updated_at": _instant(self.start),
                }
            )
            for p in range(1, 6):
                targets.append(
                    {
                        "contract_id": v,
                        "metric": "response",
                        "priority": p,
                        "target_minutes": int(RESPONSE_TARGET[p - 1] // 60),
                        "target_percent": 95.0,
                        "underpinning": True,
                    }
                )
                targets.append(
                    {
                        "contract_id": v,
                        "metric": "resolution",
                        "priority": p,
                        "target_minutes": int(RESOLUTION_TARGET[p - 1] // 60),
                        "target_percent": 95.0,
                        "underpinning": True,
                    }
                )
            targets.append(
                {
                    "contract_id": v,
                    "metric": "availability",
                    "priority": None,
                    "target_minutes": None,
                    "target_percent": 99.9,
                    "underpinning": True,
                }
            )
            credits.append(
                {
                    "contract_id": v,
                    "metric": "availability",
                    "target_percent": 99.9,
                    "percent_per_point": 5.0,
                    "cap_percent": 20.0,
                }
            )
            links += [
                {"contract_id": v, "service_id": s}
                for s in range(1, self.n_services + 1)
                if self.service_vendor[s] == v
            ]
        self._rows(Contract, contracts, "contracts")
        self._rows(ContractSlaTarget, targets)
        self._rows(CreditRule, credits)
        self._rows(contract_service, links)
        self._scorecards()

    def _scorecards(self) -> None:
        """Eight quarters of scorecards per vendor, measured from the generated incidents."""
        rng = self.rng
        arrays = getattr(self, "incident_arrays", None)
        anchor = _instant(self.anchor).date()
        quarters = scorecards.previous_quarters(anchor, 8)
        criteria = cat.SCORECARD_CRITERIA
        periods, scores = [], []
        period_id = 0
        for v in range(1, len(self.vendor_names) + 1):
            quality = self.vendor_quality[v - 1]
            services = [s for s in range(1, self.n_services + 1) if self.service_vendor[s] == v]
            counts = []
            measured_by_quarter = []
            for _label, first, last in quarters:
                lo = _epoch(dt.datetime.combine(first, dt.time(), UTC))
                hi = _epoch(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), UTC))
                m = scorecards.measure_vendor_quarter(arrays, v, lo, hi, services, self.outages)
                counts.append(m["incident_count"])
                measured_by_quarter.append(m)
            mean_count = float(np.mean(counts)) if counts else 0.0
            for (label, first, last), m in zip(quarters, measured_by_quarter, strict=True):
                period_id += 1
                values, points = {}, {}
                for c, (_name, kind, metric, _weight, target, floor) in enumerate(
                    criteria, start=1
                ):
                    if kind == "judged":
                        judged = int(
                            np.clip(round(5.6 - 2.5 * (quality - 0.8) + rng.normal(0, 0.6)), 1, 5)
                        )
                        points[c] = scorecards.judged_score(judged)
                        values[c] = (None, judged)
                    else:
                        value = m[metric]
                        if metric == "incident_count":
                            points[c] = scorecards.volume_score(value, mean_count)
                        else:
                            points[c] = scorecards.linear_score(value, target, floor)
                        values[c] = (value, None)
                total = scorecards.weighted_total([(criteria[c - 1][3], points[c]) for c in points])
                rag = scorecards.rag(total, 85.0, 70.0)
                periods.append(
                    {
                        "id": period_id,
                        "vendor_id": v,
                        "template_id": 1,
                        "period": label,
                        "starts_on": first,
                        "ends_on": last,
                        "total": total,
                        "rag": rag,
                        "status": "final" if last < anchor else "draft",
                        "created_at": _instant(self.anchor),
                        "updated_at": _instant(self.anchor),
                    }
                )
                for c, (value, judged) in values.items():
                    scores.append(
                        {
                            "period_id": period_id,
                            "criterion_id": c,
                            "value": value,
                            "judged": judged,
                            "score": points[c],
                            "comment": "",
                        }
                    )
        self._rows(ScorecardPeriod, periods, "scorecards")
        self._rows(ScorecardScore, scores)
        last_red = [p for p in periods if p["rag"] == "red" and p["period"] == quarters[-1][0]]
        self._rows(
            ReviewAction,
            [
                {
                    "period_id": p["id"],
                    "description": "Present a service improvement plan for SLA attainment",
                    "owner": self.vendor_names[p["vendor_id"] - 1],
                    "due_on": anchor + dt.timedelta(days=30),
                    "status": "open",
                    "created_at": _instant(self.anchor),
                    "updated_at": _instant(self.anchor),
                }
                for p in last_red
            ],
        )


def _shown_clock(clocks: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Due instants (NONE: none) and stages (None: none) of the clock each incident shows.

    The queue's rule (:mod:`app.services.incident_query`) for the demo's clocks, one
    response and one resolution clock per incident: a clock not canceled, the resolution
    clock before any other target, so the resolution clock unless it was canceled, else
    the response clock unless it was canceled, else none.
    """
    resolution = clocks["resolution_stage"] != "canceled"
    response = clocks["response_stage"] != "canceled"
    due = np.where(
        resolution,
        clocks["resolution_due"],
        np.where(response, clocks["response_due"], NONE),
    )
    stage = np.where(
        resolution,
        clocks["resolution_stage"],
        np.where(response, clocks["response_stage"], None),
    ).astype(object)
    return due, stage


def _skewed(k: int) -> np.ndarray:
    """Answer probabilities leaning to the low-risk options."""
    w = np.array([0.5**i for i in range(k)])
    return w / w.sum()


def _duration(seconds: int) -> str:
    if seconds % DAY == 0 and seconds >= DAY:
        return f"{seconds // DAY}d"
    if seconds % HOUR == 0:
        return f"{seconds // HOUR}h"
    return f"{seconds // 60}m"


def _is_empty(database: Database) -> bool:
    with database.session() as s:
        return not (
            s.scalar(select(func.count()).select_from(Incident))
            or s.scalar(select(func.count()).select_from(Team))
        )


def _wipe(database: Database) -> Database:
    """Empty a database by rebuilding its schema (a SQLite file is simply recreated)."""
    from app.db import migrate

    path = database.url.database if database.is_sqlite else None
    url = database.url
    database.dispose()
    if path:
        from pathlib import Path

        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
        return open_database(url)
    from alembic import command

    with database.engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    return open_database(url)


def create_demo_database(
    url: str | None,
    incidents: int = 50_000,
    seed: int = 1,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
    anchor: dt.datetime | None = None,
) -> DemoSummary:
    """Create (or, with ``replace``, rebuild) a demo database and fill it.

    Deterministic for a given ``seed`` and ``anchor`` (default: the start of this hour).
    """
    began = time.perf_counter()
    database = open_database(url)
    if not _is_empty(database):
        if not replace:
            database.dispose()
            raise DemoError(
                f"{database.describe()} already holds data; use --replace to empty it first."
            )
        database = _wipe(database)
    anchor = (anchor or default_anchor()).astimezone(UTC)
    created_file = database.is_sqlite
    try:
        with database.engine.connect() as conn:
            if database.is_sqlite:
                # A fresh demo file: no journal while loading (a failure deletes the file).
                conn.exec_driver_sql("PRAGMA journal_mode=OFF")
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.exec_driver_sql("PRAGMA cache_size=-400000")
                conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
            conn.commit()
            with conn.begin():
                builder = DemoBuilder(conn, incidents, seed, anchor, progress)
                counts = builder.run()
            with conn.begin():
                conn.exec_driver_sql("ANALYZE")
            if database.is_sqlite:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    except BaseException:
        database.dispose()
        if created_file and database.url.database:
            from pathlib import Path

            for suffix in ("", "-wal", "-shm"):
                Path(database.url.database + suffix).unlink(missing_ok=True)
        raise
    _keep_kpi_columns(database, progress)
    summary = DemoSummary(database.describe(), counts, time.perf_counter() - began)
    database.dispose()
    return summary


def _keep_kpi_columns(database: Database, progress: Callable[[str], None] | None) -> None:
    """Read the new data's KPI columns once and keep them on disk, as opening the KPI page
    would, so the first visit to that page does not wait for them."""
    from app.services import kpi_store
    from app.services.kpi import KpiColumns

    if progress:
        progress("Preparing the KPI columns")
    with database.session() as session:
        path = kpi_store.store_path(session)
        if path is None:
            return
        kpi_store.save(KpiColumns.load(session), path, kpi_store.identity(session))


__all__ = ["DemoError", "DemoSummary", "create_demo_database", "default_anchor"]
