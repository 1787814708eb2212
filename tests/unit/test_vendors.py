"""Vendors, contacts, contracts, targets and credit rules, and contract warnings."""

from __future__ import annotations

import datetime as dt

import pytest

from app.models import Service
from app.services import vendors as vs
from app.services.scorecards import ConflictError, ScorecardError

TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def s(db):
    with db.session() as session:
        yield session


def _contract(s, vendor, ref, starts, ends, **extra):
    fields = {"reference": ref, "title": f"{ref} terms", "starts_on": starts, "ends_on": ends}
    return vs.save_contract(s, vendor, None, {**fields, **extra})


def test_vendors_contacts_and_contracts(s):
    acme = vs.save_vendor(s, None, {"name": "Acme Hosting", "category": "Hosting"})
    with pytest.raises(ScorecardError, match="already a vendor called 'Acme Hosting'"):
        vs.save_vendor(s, None, {"name": "Acme Hosting"})
    with pytest.raises(ScorecardError, match="name is required"):
        vs.save_vendor(s, None, {"name": "  "})
    with pytest.raises(ScorecardError, match="no field 'colour'"):
        vs.save_vendor(s, acme, {"colour": "red"})
    vs.save_contact(s, acme, None, {"name": "Ann Lee", "role": "Account manager",
                                    "email": "ann@acme.example"})  # fmt: skip
    with pytest.raises(ScorecardError, match="not an e-mail address"):
        vs.save_contact(s, acme, None, {"name": "Bob", "email": "bob at acme"})
    hosting = Service(name="Hosting")
    s.add(hosting)
    s.flush()
    ct = _contract(s, acme, "CT-1", "2026-01-01", dt.date(2027, 12, 31), monthly_fee="12500.5",
                   currency="eur", service_ids=[hosting.id], auto_renew=True)  # fmt: skip
    with pytest.raises(ScorecardError, match="ends .* before it starts"):
        vs.save_contract(s, acme, ct, {"ends_on": dt.date(2025, 1, 1)})
    with pytest.raises(ScorecardError, match="must be a date"):
        vs.save_contract(s, acme, ct, {"ends_on": "next year"})
    with pytest.raises(ScorecardError, match="monthly fee must be 0 or more"):
        vs.save_contract(s, acme, ct, {"monthly_fee": -1})
    with pytest.raises(ScorecardError, match="three-letter code"):
        vs.save_contract(s, acme, ct, {"currency": "euro"})
    with pytest.raises(ScorecardError, match="already a contract CT-1"):
        _contract(s, acme, "CT-1", TODAY, TODAY)
    vs.save_target(s, ct, None, "resolution", priority=1, target_minutes=240, target_percent=95)
    vs.save_target(s, ct, None, "availability", target_percent=99.9)
    with pytest.raises(ScorecardError, match="needs a time in minutes"):
        vs.save_target(s, ct, None, "response", priority=2)
    with pytest.raises(ScorecardError, match="priority is 1-5"):
        vs.save_target(s, ct, None, "response", priority=7, target_minutes=30)
    with pytest.raises(ScorecardError, match="at most 100"):
        vs.save_target(s, ct, None, "availability", target_percent=120)
    vs.save_credit_rule(s, ct, None, "availability", 99.9, 5, 20)
    with pytest.raises(ScorecardError, match="cap is above 0"):
        vs.save_credit_rule(s, ct, None, "availability", 99.9, 5, 0)
    with pytest.raises(ScorecardError, match="credit rule is on"):
        vs.save_credit_rule(s, ct, None, "csat", 90, 5, 10)

    detail = vs.get_vendor(s, acme)
    assert [c.name for c in detail.contacts] == ["Ann Lee"]
    contract = detail.contracts[0]
    assert (contract.monthly_fee, contract.currency, contract.services) == (
        12500.50, "EUR", ("Hosting",))  # fmt: skip
    assert [(t.metric, t.priority) for t in contract.targets] == [
        ("availability", None), ("resolution", 1)]  # fmt: skip
    assert contract.credit_rules[0].cap_percent == 20
    with pytest.raises(ConflictError):
        vs.save_contract(s, acme, ct, {"title": "New"}, expected_version=contract.version - 1)
    vs.save_contract(s, acme, ct, {"title": "New"}, expected_version=contract.version)
    [row] = vs.list_vendors(s)
    assert (row.name, row.contracts, row.next_end) == ("Acme Hosting", 1, dt.date(2027, 12, 31))
    assert vs.vendor_by_name(s, " acme hosting") == acme
    with pytest.raises(ScorecardError, match="unknown vendor 'Nobody'"):
        vs.vendor_by_name(s, "Nobody")


def test_contract_warnings_most_urgent_first(s):
    v = vs.save_vendor(s, None, {"name": "Globex"})
    # Notice of 90 days: deadline 2026-10-22 has passed; ends in 60 days, renews by itself.
    passed = _contract(s, v, "CT-PASSED", "2024-01-01", TODAY + dt.timedelta(days=60),
                       auto_renew=True)  # fmt: skip
    # Deadline in 20 days.
    due = _contract(s, v, "CT-DUE", "2024-01-01", TODAY + dt.timedelta(days=110))
    # Ends in 40 days with 30 days' notice: deadline in 10 days.
    _contract(s, v, "CT-SHORT", "2024-01-01", TODAY + dt.timedelta(days=40),
              renewal_notice_days=30)  # fmt: skip
    # No notice needed, ends within 60 days.
    _contract(s, v, "CT-ENDING", "2024-01-01", TODAY + dt.timedelta(days=50),
              renewal_notice_days=0)  # fmt: skip
    # Far away: only the missing targets and credit rule are worth a word.
    far = _contract(s, v, "CT-FAR", "2024-01-01", TODAY + dt.timedelta(days=900))
    other = vs.save_vendor(s, None, {"name": "Initech"})
    _contract(s, other, "CT-ENDED", "2023-01-01", TODAY - dt.timedelta(days=5))
    for ct in (passed, due, far):
        vs.save_target(s, ct, None, "availability", target_percent=99.5)
        vs.save_credit_rule(s, ct, None, "availability", 99.5, 5, 20)
    warnings = vs.contract_warnings(s, TODAY)
    kinds = [(w.reference, w.kind) for w in warnings if w.severity != "low"]
    assert kinds == [
        ("CT-ENDED", "ended"),
        ("CT-PASSED", "notice_passed"),
        ("CT-SHORT", "notice_due"),
        ("CT-DUE", "notice_due"),
        ("CT-ENDING", "ending"),
    ]
    by_ref = {w.reference: w for w in warnings if w.severity != "low"}
    assert "renews automatically on" in by_ref["CT-PASSED"].message
    assert by_ref["CT-DUE"].days == 20 and "give notice by" in by_ref["CT-DUE"].message
    low = {(w.reference, w.kind) for w in warnings if w.severity == "low"}
    assert ("CT-SHORT", "no_targets") in low and ("CT-ENDING", "no_credit_rule") in low
    assert not any(ref == "CT-FAR" for ref, _ in low)
    # A vendor that is no longer active raises nothing.
    vs.save_vendor(s, other, {"active": False})
    assert "CT-ENDED" not in {w.reference for w in vs.contract_warnings(s, TODAY)}
    assert all(w.vendor == "Globex" for w in vs.contract_warnings(s, TODAY, [v]))
