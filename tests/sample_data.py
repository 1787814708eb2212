"""A small hand-made database whose Today figures are known exactly.

``fill(db)`` writes, relative to ``NOW`` (Monday 2026-11-23 12:00 UTC, 13:00 in Berlin):

* open incidents P1 x2, P2 x3, P3 x3, P4 x1, P5 x0 (plus resolved, closed and canceled ones);
* SLA clocks: 2 at risk (one near its due time, one with 80% business time used),
  2 open incidents breached (one running past due, one marked breached);
* 2 major incidents in progress (one with two updates, one with none) and one resolved;
* 3 changes starting within 7 days (and others canceled, closed, too late or started);
* on call: Network (primary Eli Park from the business-hours layer, secondary Alex Kim),
  Database (primary Dana Ortiz by override);
* vendors in red: Umbrella Corp (55.0) and Acme Hosting (62.5);
* 3 contracts ending within 60 days.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from app.db import Database
from app.models import (
    UTC,
    ChangeRequest,
    Contract,
    Incident,
    LayerMember,
    MajorIncidentUpdate,
    OnCallSchedule,
    Person,
    ScheduleLayer,
    ScheduleOverride,
    ScorecardPeriod,
    ScorecardTemplate,
    Service,
    SlaClock,
    SlaDefinition,
    Team,
    Vendor,
)
from app.services.incident_query import store_shown_clocks

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)

OPEN_BY_PRIORITY = {1: 2, 2: 3, 3: 3, 4: 1, 5: 0}
AT_RISK = 2
BREACHED = 2


def _incident(number: str, priority: int, state: str, **extra) -> Incident:
    return Incident(
        number=number,
        short_description=extra.pop("short_description", f"Sample incident {number}"),
        priority=priority,
        state=state,
        opened_at=extra.pop("opened_at", NOW - 5 * H),
        **extra,
    )


def _clock(incident: Incident, definition: SlaDefinition, stage: str, due: dt.datetime, **extra):
    return SlaClock(
        incident_id=incident.id,
        definition_id=definition.id,
        stage=stage,
        started_at=extra.pop("started_at", incident.opened_at),
        due_at=due,
        **extra,
    )


def fill(db: Database, now: dt.datetime = NOW) -> None:
    """Write the sample records (times relative to ``now``)."""
    with db.transaction() as s:
        network = Team(name="Network")
        database = Team(name="Database")
        desk = Team(name="Service Desk")
        people = {
            name: Person(name=name, email=f"{name.split()[0].lower()}@example.com")
            for name in ("Alex Kim", "Bea Novak", "Chen Li", "Dana Ortiz", "Eli Park")
        }
        s.add_all([network, database, desk, *people.values()])
        email = Service(name="Email")
        s.add(email)
        s.flush()

        incidents = {
            "INC001": _incident(
                "INC001",
                1,
                "In Progress",
                short_description="Email down for all users",
                is_major=True,
                major_status="investigating",
                major_declared_at=now - 2 * H,
                service_id=email.id,
                assignment_group_id=network.id,
            ),
            "INC002": _incident("INC002", 1, "New"),
            "INC003": _incident("INC003", 2, "On Hold", hold_reason="Awaiting Vendor"),
            "INC004": _incident("INC004", 2, "In Progress"),
            "INC005": _incident("INC005", 2, "New"),
            "INC006": _incident("INC006", 3, "New"),
            "INC007": _incident("INC007", 3, "In Progress"),
            "INC008": _incident(
                "INC008",
                3,
                "On Hold",
                short_description="VPN drops every hour",
                is_major=True,
                major_status="identified",
                major_declared_at=now - 1 * H,
            ),
            "INC009": _incident("INC009", 4, "New"),
            # Finished incidents never count as open.
            "INC010": _incident(
                "INC010",
                1,
                "Resolved",
                is_major=True,
                major_status="resolved",
                resolved_at=now - H,
            ),
            "INC011": _incident("INC011", 2, "Closed", closed_at=now - D),
            "INC012": _incident("INC012", 5, "Canceled"),
        }
        s.add_all(incidents.values())
        s.flush()
        s.add_all(
            [
                MajorIncidentUpdate(
                    incident_id=incidents["INC001"].id,
                    at=now - 90 * dt.timedelta(minutes=1),
                    status="investigating",
                    text="Mail servers not answering",
                ),
                MajorIncidentUpdate(
                    incident_id=incidents["INC001"].id,
                    at=now - 20 * dt.timedelta(minutes=1),
                    status="identified",
                    text="Failover to the second site started",
                ),
                MajorIncidentUpdate(
                    incident_id=incidents["INC010"].id,
                    at=now - H,
                    status="resolved",
                    text="Fixed",
                ),
            ]
        )

        p1 = SlaDefinition(name="P1 resolution", target="resolution", duration_seconds=4 * 3600)
        p2 = SlaDefinition(name="P2 resolution", target="resolution", duration_seconds=8 * 3600)
        resp = SlaDefinition(name="P1 response", target="response", duration_seconds=900)
        s.add_all([p1, p2, resp])
        s.flush()
        inc = incidents
        s.add_all(
            [
                # At risk: 30 minutes left of 4 hours.
                _clock(inc["INC001"], p1, "in_progress", now + 30 * dt.timedelta(minutes=1)),
                _clock(inc["INC001"], resp, "achieved", now - 3 * H, stopped_at=now - 4 * H),
                # Not at risk: 7 hours left of 8.
                _clock(
                    inc["INC004"], p2, "in_progress", now + 7 * H, business_elapsed_seconds=3600
                ),
                # At risk: 20 wall-clock hours left, but 6.5 of 8 business hours used.
                _clock(
                    inc["INC003"],
                    p2,
                    "in_progress",
                    now + 20 * H,
                    business_elapsed_seconds=int(6.5 * 3600),
                ),
                # Breached: still running 10 minutes past due.
                _clock(inc["INC002"], p1, "in_progress", now - 10 * dt.timedelta(minutes=1)),
                # Breached: marked so.
                _clock(inc["INC005"], p2, "breached", now - H, breached=True, stopped_at=now - H),
                # Paused clocks are not at risk even when close to due.
                _clock(
                    inc["INC006"],
                    p2,
                    "paused",
                    now + 10 * dt.timedelta(minutes=1),
                    paused_since=now - H,
                ),
                # Canceled clocks never count.
                _clock(inc["INC007"], p2, "canceled", now - H, breached=True),
                # Finished incidents never count.
                _clock(inc["INC011"], p2, "breached", now - 2 * D, breached=True),
                _clock(inc["INC010"], p1, "in_progress", now + 5 * dt.timedelta(minutes=1)),
            ]
        )
        s.flush()
        # The clocks are hand-made, not computed by the SLA engine: store the shown one.
        store_shown_clocks(s)

        def change(number: str, start: dt.timedelta, state: str, **extra) -> ChangeRequest:
            return ChangeRequest(
                number=number,
                short_description=extra.pop("short_description", f"Sample change {number}"),
                state=state,
                planned_start=now + start,
                planned_end=now + start + 2 * H,
                **extra,
            )

        s.add_all(
            [
                change(
                    "CHG001",
                    D,
                    "Scheduled",
                    short_description="Patch core switches",
                    risk="High",
                    type="Normal",
                ),
                change("CHG002", 3 * D, "New", risk="Low", type="Standard"),
                change("CHG003", 7 * D - H, "Authorize", risk="Moderate"),
                change("CHG004", 2 * D, "Canceled"),
                change("CHG005", 8 * D, "Scheduled"),
                change("CHG006", -H, "Implement"),
                change("CHG007", 5 * D, "Closed"),
            ]
        )

        _rosters(s, now, network, database, people)
        _vendors(s, now)


def _rosters(s, now: dt.datetime, network: Team, database: Team, people: dict) -> None:
    # Rotations start on Mondays at 09:00 Berlin time, three weeks before NOW's Monday.
    monday = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BERLIN)
    net = OnCallSchedule(name="Network on call", team_id=network.id, timezone="Europe/Berlin")
    weekly = ScheduleLayer(
        name="Weekly", role="primary", position=0, rotation_start=monday, turn_seconds=7 * 86400
    )
    weekly.members = [
        LayerMember(person_id=people[n].id, position=i)
        for i, n in enumerate(("Alex Kim", "Bea Novak", "Chen Li"))
    ]
    daytime = ScheduleLayer(
        name="Business hours",
        role="primary",
        position=1,
        rotation_start=monday + 14 * D,
        turn_seconds=86400,
        restrictions=[{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}],
    )
    daytime.members = [
        LayerMember(person_id=people[n].id, position=i)
        for i, n in enumerate(("Dana Ortiz", "Eli Park"))
    ]
    second = ScheduleLayer(
        name="Secondary",
        role="secondary",
        position=2,
        rotation_start=monday,
        turn_seconds=7 * 86400,
    )
    second.members = [
        LayerMember(person_id=people[n].id, position=i)
        for i, n in enumerate(("Chen Li", "Alex Kim"))
    ]
    net.layers = [weekly, daytime, second]

    dba = OnCallSchedule(name="Database on call", team_id=database.id, timezone="UTC")
    dba_layer = ScheduleLayer(
        name="Weekly", role="primary", position=0, rotation_start=monday, turn_seconds=7 * 86400
    )
    dba_layer.members = [
        LayerMember(person_id=people[n].id, position=i)
        for i, n in enumerate(("Bea Novak", "Chen Li"))
    ]
    dba.layers = [dba_layer]
    s.add_all([net, dba])
    s.flush()
    s.add_all(
        [
            ScheduleOverride(
                schedule_id=dba.id,
                person_id=people["Dana Ortiz"].id,
                starts_at=now - H,
                ends_at=now + 5 * H,
                reason="swap",
            ),
            # An override that has ended changes nothing.
            ScheduleOverride(
                schedule_id=net.id,
                person_id=people["Bea Novak"].id,
                starts_at=now - 5 * H,
                ends_at=now - H,
            ),
        ]
    )


def _vendors(s, now: dt.datetime) -> None:
    template = ScorecardTemplate(name="Standard")
    acme = Vendor(name="Acme Hosting")
    globex = Vendor(name="Globex Networks")
    umbrella = Vendor(name="Umbrella Corp")
    old = Vendor(name="Old Vendor", active=False)
    initech = Vendor(name="Initech")
    s.add_all([template, acme, globex, umbrella, old, initech])
    s.flush()

    def period(vendor: Vendor, name: str, start: dt.date, end: dt.date, total: float, rag: str):
        return ScorecardPeriod(
            vendor_id=vendor.id,
            template_id=template.id,
            period=name,
            starts_on=start,
            ends_on=end,
            total=total,
            rag=rag,
        )

    q2 = (dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    q3 = (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    s.add_all(
        [
            period(acme, "2026-Q2", *q2, 88.0, "green"),
            period(acme, "2026-Q3", *q3, 62.5, "red"),
            period(globex, "2026-Q2", *q2, 60.0, "red"),
            period(globex, "2026-Q3", *q3, 90.0, "green"),
            period(umbrella, "2026-10", dt.date(2026, 10, 1), dt.date(2026, 10, 31), 55.0, "red"),
            period(old, "2026-Q3", *q3, 40.0, "red"),
        ]
    )
    today = now.date()

    def contract(ref: str, vendor: Vendor, days: int, **extra) -> Contract:
        return Contract(
            vendor_id=vendor.id,
            reference=ref,
            title=extra.pop("title", f"{ref} terms"),
            starts_on=dt.date(2024, 1, 1),
            ends_on=today + dt.timedelta(days=days),
            **extra,
        )

    s.add_all(
        [
            contract("C-TODAY", initech, 0, title="Printer fleet"),
            contract("C-38", acme, 38, auto_renew=True, title="Hosting"),
            contract("C-60", globex, 60, renewal_notice_days=30, title="WAN links"),
            contract("C-61", umbrella, 61),
            contract("C-PAST", umbrella, -1),
        ]
    )
