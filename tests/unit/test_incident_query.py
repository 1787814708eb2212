"""The incident queue's filters, sorts, windows, presets and saved views on the sample database."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.models import AppUser, Incident, Person, Team
from app.models.org import team_member
from app.services import incident_query as q
from app.services.incident_query import IncidentFilter, Sort
from app.services.today import today_figures
from tests import sample_data
from tests.sample_data import NOW


@pytest.fixture
def sample(db):
    sample_data.fill(db)
    return db


def numbers(session, filt, sort=q.DEFAULT_SORT, ctx=None):
    ctx = ctx or q.context_for(session, NOW)
    return [row.number for row in q.fetch_window(session, filt, sort, 0, 1000, ctx)]


def test_open_means_new_in_progress_and_on_hold(sample):
    with sample.session() as s:
        ctx = q.context_for(s, NOW)
        assert q.count(s, IncidentFilter(states=["open"]), ctx) == 9
        assert q.count(s, IncidentFilter(), ctx) == 12
        assert q.count(s, IncidentFilter(states=["Closed", "Canceled"]), ctx) == 2
        assert sorted(numbers(s, IncidentFilter(states=["open"], priorities=[1]))) == [
            "INC001",
            "INC002",
        ]


def test_counts_match_the_today_page(sample):
    with sample.session() as s:
        figures = today_figures(s, NOW, zone=dt.UTC)
        ctx = q.context_for(s, NOW)
        for p in figures.open_by_priority:
            filt = IncidentFilter.from_dict(
                {"state": list(q.OPEN_STATES), "priority": [p.priority]}
            )
            assert q.count(s, filt, ctx) == p.count
        breached = IncidentFilter.from_dict({"state": list(q.OPEN_STATES), "sla": "breached"})
        at_risk = IncidentFilter.from_dict({"state": list(q.OPEN_STATES), "sla": "at_risk"})
        assert q.count(s, breached, ctx) == figures.sla.breached == 2
        assert q.count(s, at_risk, ctx) == figures.sla.at_risk == 2
        assert sorted(numbers(s, breached)) == ["INC002", "INC005"]
        assert sorted(numbers(s, at_risk)) == ["INC001", "INC003"]
        assert numbers(s, IncidentFilter(sla=["paused"])) == ["INC006"]


def test_sla_filters_agree_without_a_state_filter(sample):
    with sample.session() as s:
        ctx = q.context_for(s, NOW)
        # INC011 is closed and breached; the canceled clock of INC007 never counts.
        assert sorted(numbers(s, IncidentFilter(sla=["breached"]))) == [
            "INC002",
            "INC005",
            "INC011",
        ]
        # INC010 is resolved but its clock still runs, 5 minutes from due: at risk.
        ok = set(numbers(s, IncidentFilter(sla=["ok"])))
        assert ok == {f"INC{i:03d}" for i in range(1, 13)} - {
            "INC001",
            "INC002",
            "INC003",
            "INC005",
            "INC010",
            "INC011",
        }
        either = IncidentFilter(states=["open"], sla=["breached", "at_risk"])
        assert q.count(s, either, ctx) == 4


def test_groups_assignees_services_and_major(sample):
    with sample.session() as s:
        network = s.scalar(select(Team.id).where(Team.name == "Network"))
        assert numbers(s, IncidentFilter(group_ids=[network])) == ["INC001"]
        assert numbers(s, IncidentFilter(major=True, states=["open"]), Sort("number", False)) == [
            "INC001",
            "INC008",
        ]
        assert q.count(s, IncidentFilter(unassigned=True), q.context_for(s, NOW)) == 12
        email = numbers(s, IncidentFilter.from_dict({"service": 1}))
        assert email == ["INC001"]


def test_my_groups_resolves_the_users_teams(sample):
    with sample.transaction() as s:
        network = s.scalar(select(Team.id).where(Team.name == "Network"))
        alex = s.scalar(select(Person.id).where(Person.name == "Alex Kim"))
        s.execute(team_member.insert().values(team_id=network, person_id=alex))
        user = AppUser(username="alex", display_name="Alex Kim", role="agent", person_id=alex)
        s.add(user)
        s.flush()
        teams = q.user_team_ids(s, user.id)
        assert teams == (network,)
        mine = IncidentFilter(my_groups=True)
        assert numbers(s, mine, ctx=q.context_for(s, NOW, teams)) == ["INC001"]
        # Nobody's teams: nothing, rather than everything.
        assert numbers(s, mine, ctx=q.context_for(s, NOW)) == []


def test_free_text_searches_number_and_description(sample):
    with sample.session() as s:
        assert numbers(s, IncidentFilter(text="vpn drops")) == ["INC008"]
        assert numbers(s, IncidentFilter(text="  inc00 1  ")) == []
        assert len(numbers(s, IncidentFilter(text="inc01"))) == 3
        assert numbers(s, IncidentFilter(text="%")) == []
        assert numbers(s, IncidentFilter(text="_")) == []


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE incident; --",
        '" OR 1=1 --',
        "\\",
        "x" * 100_000,
        "%_%\\%",
        "\x00abc",
    ],
)
def test_hostile_search_text_is_a_harmless_search(sample, text):
    with sample.session() as s:
        filt = IncidentFilter(text=text)
        assert len(filt.text) <= q.MAX_TEXT * 4
        assert numbers(s, filt) == []
        assert q.count(s, filt, q.context_for(s, NOW)) == 0
        assert s.scalar(select(Incident.id).limit(1)) is not None


def test_sorts_order_rows_with_a_stable_tie_breaker(sample):
    with sample.session() as s:
        by_priority = numbers(s, IncidentFilter(states=["open"]), Sort("priority", False))
        assert by_priority[:2] == ["INC001", "INC002"]
        assert by_priority[-1] == "INC009"
        assert numbers(s, IncidentFilter(), Sort("number", True))[0] == "INC012"
        by_sla = numbers(s, IncidentFilter(states=["open"]), Sort("sla", False))
        # Soonest due first; incidents without a clock last.
        assert by_sla[0] == "INC005"
        assert by_sla[-1] in {"INC008", "INC009"}
        by_group = numbers(s, IncidentFilter(), Sort("group", False))
        assert by_group[0] == "INC001"


def test_windows_and_keyset_pages_cover_the_list_once(sample):
    with sample.session() as s:
        ctx = q.context_for(s, NOW)
        whole = numbers(s, IncidentFilter())
        total = len(whole)
        pieces = []
        for offset in range(0, total, 5):
            rows = q.fetch_window(s, IncidentFilter(), q.DEFAULT_SORT, offset, 5, ctx, total=total)
            pieces += [row.number for row in rows]
        assert pieces == whole
        keyed, after = [], None
        while True:
            rows, after = q.fetch_after(s, IncidentFilter(), q.DEFAULT_SORT, after, 5, ctx)
            keyed += [row.number for row in rows]
            if after is None:
                break
        assert keyed == whole


def test_sla_cells_read_like_a_person_would_say_them(sample):
    with sample.session() as s:
        ctx = q.context_for(s, NOW)
        rows = {
            r.number: r for r in q.fetch_window(s, IncidentFilter(), q.DEFAULT_SORT, 0, 100, ctx)
        }
        cell = q.sla_cell(rows["INC001"], NOW)
        assert (cell.status, cell.text) == ("risk", "30m left")
        assert q.sla_cell(rows["INC002"], NOW).text == "breached 10m ago"
        assert q.sla_cell(rows["INC005"], NOW).status == "breached"
        assert q.sla_cell(rows["INC006"], NOW).text == "paused"
        assert q.sla_cell(rows["INC004"], NOW).status == "ok"
        assert q.sla_cell(rows["INC009"], NOW).status == "none"
        assert rows["INC001"].service == "Email"
        assert rows["INC001"].group_name == "Network"


def test_filter_round_trips_through_its_dict_form():
    filt = IncidentFilter(
        states=["open", "Resolved"],
        priorities=[1, 2],
        group_ids=[3],
        unassigned=True,
        sla=["breached"],
        opened_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        text="printer",
        major=False,
        my_groups=True,
    )
    data = filt.to_dict()
    assert data["state"] == ["open", "Resolved"]
    assert data["major"] is False or "major" not in data
    assert IncidentFilter.from_dict(data).to_dict() == data
    assert IncidentFilter.from_dict({"sla": "breached"}).sla == ("breached",)
    with pytest.raises(ValueError, match="unknown filter key"):
        IncidentFilter.from_dict({"colour": "red"})
    with pytest.raises(ValueError, match="unknown state"):
        IncidentFilter(states=["Sleeping"])


def test_command_line_words_become_a_filter(sample):
    with sample.session() as s:
        filt = q.parse_filter_args(
            [
                "state=open",
                "priority=P1,2",
                "group=network",
                "opened_from=2026-01-01",
                "opened_to=2026-01-31",
                "sla=breached",
                "text=mail",
            ],
            s,
        )
        network = s.scalar(select(Team.id).where(Team.name == "Network"))
        assert filt.states == ("open",)
        assert filt.priorities == (1, 2)
        assert filt.group_ids == (network,)
        assert filt.opened_to - filt.opened_from == dt.timedelta(days=31)
        assert filt.text == "mail"
        for bad, message in [
            ("colour=red", "unknown filter key"),
            ("state=sleeping", "unknown state"),
            ("priority=9", "priority must be 1-5"),
            ("group=Nobody", "no assignment group called 'Nobody'"),
            ("opened_from=yesterday", "is not a date"),
            ("major=perhaps", "yes or no"),
            ("state", "key=value"),
        ]:
            with pytest.raises(ValueError, match=message):
                q.parse_filter_args([bad], s)


def test_presets_are_filters():
    keys = {p.key: p for p in q.presets()}
    assert {"my_groups", "unassigned", "p1p2", "breached", "at_risk", "major"} <= set(keys)
    assert keys["p1p2"].filter.priorities == (1, 2)
    assert keys["breached"].filter.sla == ("breached",)


def test_saved_views_per_user(sample):
    definition = q.ViewDefinition(
        IncidentFilter(states=["open"], priorities=[1]), Sort("sla", False), ("number", "sla")
    )
    with sample.transaction() as s:
        view_id = q.save_view(s, None, "My P1s", definition)
        local = s.scalar(select(AppUser).where(AppUser.username == q.LOCAL_USERNAME))
        assert local is not None and not local.active
        # Saving under the same name replaces the definition.
        assert q.save_view(s, None, "My P1s", definition) == view_id
    with sample.session() as s:
        views = q.list_views(s, None)
        assert [(v.name, v.definition) for v in views] == [("My P1s", definition)]
    with sample.transaction() as s:
        other = AppUser(username="bea", display_name="Bea", role="agent")
        s.add(other)
        s.flush()
        assert q.list_views(s, other.id) == []
        q.rename_view(s, view_id, "Critical")
    with sample.transaction() as s:
        assert [v.name for v in q.list_views(s, None)] == ["Critical"]
        q.delete_view(s, view_id)
        assert q.list_views(s, None) == []


_SORTS = st.builds(Sort, st.sampled_from(q.COLUMN_KEYS), st.booleans())
_FILTERS = st.builds(
    IncidentFilter,
    states=st.lists(st.sampled_from(["open", *q.ALL_STATES]), max_size=2),
    priorities=st.lists(st.integers(1, 5), max_size=2),
    sla=st.lists(st.sampled_from(q.SLA_STATUSES), max_size=1),
    text=st.sampled_from(["", "inc", "sample", "x"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(filt=_FILTERS, sort=_SORTS, size=st.integers(1, 7))
def test_windows_never_overlap_or_skip(sample, filt, sort, size):
    with sample.session() as s:
        ctx = q.context_for(s, NOW)
        total = q.count(s, filt, ctx)
        seen: list[int] = []
        for offset in range(0, total + size, size):
            seen += [r.id for r in q.fetch_window(s, filt, sort, offset, size, ctx, total=total)]
        assert len(seen) == total == len(set(seen))
        forwards = [r.id for r in q.fetch_window(s, filt, sort, 0, 100, ctx)]
        assert seen == forwards
        keyed, after = [], None
        while True:
            rows, after = q.fetch_after(s, filt, sort, after, size, ctx)
            keyed += [r.id for r in rows]
            if after is None:
                break
        assert keyed == forwards


def test_queue_on_sqlite_and_postgresql(any_db):
    sample_data.fill(any_db)
    with any_db.session() as s:
        ctx = q.context_for(s, NOW)
        filt = IncidentFilter(states=["open"], sla=["breached"])
        assert q.count(s, filt, ctx) == 2
        assert numbers(s, IncidentFilter(text="VPN")) == ["INC008"]
        total = q.count(s, IncidentFilter(), ctx)
        for sort in (Sort("group", False), Sort("sla", True), Sort("age", False)):
            ids = []
            for offset in range(0, total, 5):
                ids += [
                    r.id
                    for r in q.fetch_window(s, IncidentFilter(), sort, offset, 5, ctx, total=total)
                ]
            assert len(set(ids)) == total
            keyed, after = [], None
            while True:
                rows, after = q.fetch_after(s, IncidentFilter(), sort, after, 4, ctx)
                keyed += [r.id for r in rows]
                if after is None:
                    break
            assert keyed == ids


def _stored_and_rule(session) -> tuple[dict, dict]:
    stored = {
        r.id: (r.sla_due_at, r.sla_stage)
        for r in session.execute(select(Incident.id, Incident.sla_due_at, Incident.sla_stage))
    }
    rule = {r[0]: (r[1], r[2]) for r in session.execute(q.shown_clocks())}
    return stored, rule


def _versions(session) -> dict[int, int]:
    return {r.id: r.version for r in session.execute(select(Incident.id, Incident.version))}


def test_stored_sla_columns_follow_the_rule_through_the_workflow_and_recompute(any_db):
    """The engine keeps the shown clock on the incident: new, hold, resolve, recompute."""
    from app.models import AuditEntry, SlaDefinition
    from app.services import incidents as wf
    from app.services.sla_engine import recompute_open_clocks

    t0 = NOW - dt.timedelta(days=2)
    minute = dt.timedelta(minutes=1)
    with any_db.transaction() as s:
        s.add_all(
            [
                SlaDefinition(
                    name="Response in 1h",
                    target="response",
                    duration_seconds=3600,
                    applies_to={"urgency": [1, 2]},
                    start_condition={"state": ["New"]},
                    stop_condition={"first_response": True},
                    cancel_condition={"state": ["Canceled"]},
                ),
                SlaDefinition(
                    name="Resolution in 8h",
                    target="resolution",
                    duration_seconds=8 * 3600,
                    applies_to={"urgency": [1, 2]},
                    pause_condition={"state": ["On Hold"], "hold_reason": ["Awaiting Caller"]},
                    stop_condition={"state": ["Resolved", "Closed"]},
                    cancel_condition={"state": ["Canceled"]},
                ),
            ]
        )
    ids = {}
    with any_db.transaction() as s:
        for key in ("held", "resolved", "canceled", "waiting", "unmeasured"):
            urgency = 3 if key == "unmeasured" else 2  # no SLA applies to urgency 3
            data = wf.IncidentInput(short_description=f"Sample {key}", urgency=urgency)
            ids[key] = wf.new_incident(s, data, now=t0).id
    with any_db.session() as s:
        stored, rule = _stored_and_rule(s)
        assert stored == rule
        assert stored.pop(ids["unmeasured"]) == (None, None)
        assert {stage for _, stage in stored.values()} == {"in_progress"}
        versions = _versions(s)

    with any_db.transaction() as s:
        moved = wf.transition(s, ids["held"], None, "In Progress", now=t0 + 10 * minute)
        wf.transition(
            s, ids["held"], moved.version, "On Hold", hold_reason="Awaiting Caller",
            now=t0 + 70 * minute,
        )  # fmt: skip
        moved = wf.transition(s, ids["resolved"], None, "In Progress", now=t0 + 5 * minute)
        wf.transition(
            s, ids["resolved"], moved.version, "Resolved", resolution_code="Solved (Permanently)",
            resolution_notes="Restarted", now=t0 + 9 * 60 * minute,
        )  # fmt: skip
        wf.transition(s, ids["canceled"], None, "Canceled", now=t0 + 20 * minute)
    with any_db.session() as s:
        stored, rule = _stored_and_rule(s)
        assert stored == rule
        assert stored[ids["held"]][1] == "paused"
        assert stored[ids["resolved"]][1] == "breached"  # 9 hours of 8: stopped, breached
        # Canceled from New: the response was given first (met), the resolution canceled.
        assert stored[ids["canceled"]] == (t0 + 60 * minute, "achieved")
        assert stored[ids["waiting"]] == (t0 + 8 * 60 * minute, "in_progress")
        versions_after = _versions(s)

    with any_db.transaction() as s:
        assert recompute_open_clocks(s, NOW) > 0
    with any_db.session() as s:
        stored, rule = _stored_and_rule(s)
        assert stored == rule
        # Past its due time the waiting incident's resolution clock is breached; the paused
        # one's due time moved on with the clock.
        assert stored[ids["waiting"]] == (t0 + 8 * 60 * minute, "breached")
        assert stored[ids["held"]][1] == "paused" and stored[ids["held"]][0] > NOW
        # Derived figures: the recompute changed no version and wrote no audit row.
        assert _versions(s) == versions_after
        assert versions_after[ids["waiting"]] == versions[ids["waiting"]]
        audited = s.scalars(select(AuditEntry.field).where(AuditEntry.field.like("sla_%"))).all()
        assert audited == []
        # The SLA sort reads the stored columns: soonest due first, no clock last.
        by_sla = [r.id for r in q.fetch_window(s, IncidentFilter(), Sort("sla", False), 0, 10)]
        due = {i: d for i, (d, _) in stored.items()}
        assert by_sla == sorted(due, key=lambda i: (due[i] is None, due[i] or NOW, i))
        assert by_sla[-1] == ids["unmeasured"]
