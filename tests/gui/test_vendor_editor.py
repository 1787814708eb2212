"""The vendor editor: vendors, contacts, contracts, SLA targets, credit rules and warnings."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, select

from app.db import open_database
from app.models import Contract, Service
from app.services.demo import create_demo_database
from app.services.vendors import (
    get_vendor,
    save_contact,
    save_contract,
    save_vendor,
    vendor_by_name,
)
from app.views import conflict_dialog
from app.views.conflict_dialog import MERGE, MINE, THEIRS, Resolution
from app.views.vendor_editor import check_credit, credit_example, open_vendor_editor
from app.views.vendors_page import NAME

ANCHOR = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vendor-editor") / "demo.db"
    create_demo_database(str(path), incidents=300, seed=7, anchor=ANCHOR)
    return path


@pytest.fixture
def db(demo_file, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copy(demo_file, path)
    database = open_database(str(path))
    yield database
    database.dispose()


def open_editor(qtbot, db, vendor_id=None):
    editor = open_vendor_editor(None, db, vendor_id, clock=lambda: NOW)
    qtbot.addWidget(editor)
    qtbot.waitUntil(editor.is_idle, timeout=10_000)
    return editor


def saved(qtbot, editor, handle, text: str) -> None:
    """Wait for the write ``handle`` to end with ``text`` in the status line."""
    assert handle is not None, editor.last_message
    qtbot.waitUntil(lambda: not editor.busy, timeout=10_000)
    assert editor.problem.isHidden(), editor.problem.text()
    assert editor.status.text().startswith(text), editor.status.text()


def service_names(db, n: int) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(Service.name).order_by(Service.name).limit(n)))


def test_a_vendor_with_contact_contract_targets_and_credit_rule(qtbot, db):
    editor = open_editor(qtbot, db)
    assert editor.title.text() == "New vendor"
    assert not editor.tabs.isTabEnabled(2)  # contracts wait for the vendor to exist
    editor.name.setText("Kestrel Data Centres")
    editor.category.setCurrentText("Network")
    editor.account_manager.setText("Ada Byron")
    saved(qtbot, editor, editor.save_vendor(), "Saved the vendor Kestrel Data Centres")
    assert editor.title.text() == "Kestrel Data Centres" and editor.tabs.isTabEnabled(2)

    handle = editor.add_contact(
        {"name": "Grace Hopper", "role": "Service delivery manager",
         "email": "grace@kestrel.example", "phone": "+44 20 7946 0000"}
    )  # fmt: skip
    saved(qtbot, editor, handle, "Saved the contact Grace Hopper")
    assert editor.contacts.rowCount() == 1
    assert editor.tabs.tabText(1) == "Contacts (1)"

    services = service_names(db, 2)
    editor.new_contract()
    editor.set_contract_values(
        reference="CT-NW-001", title="Managed WAN", starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2027, 12, 31), monthly_fee="12,000.50", currency="gbp",
        renewal_notice_days=60, auto_renew=True, services=services,
    )  # fmt: skip
    assert "Renews on 2028-01-01 unless notice is given by 2027-11-01" in (
        editor.renewal_words.text()
    )
    saved(qtbot, editor, editor.save_contract(), "Saved the contract CT-NW-001")
    assert editor.contract() is not None and editor.contract().reference == "CT-NW-001"
    assert editor.contract_box.title() == "Contract CT-NW-001"

    for values, text in (
        ({"metric": "response", "priority": 1, "time": "30m", "percent": "95",
          "underpinning": True}, "Saved the P1 response target"),
        ({"metric": "resolution", "priority": 1, "time": "4h", "percent": "",
          "underpinning": True}, "Saved the P1 resolution target"),
        ({"metric": "availability", "priority": None, "time": "", "percent": "99.9 %",
          "underpinning": False}, "Saved the availability target"),
    ):  # fmt: skip
        saved(qtbot, editor, editor.add_target(values), text)
    assert editor.targets.rowCount() == 3
    assert [editor.targets.item(r, 2).text() for r in range(3)] == ["99.9 %", "30m", "4h"]

    editor.set_credit_values(99.9, 5, 20)
    example = editor.credit_example.text()
    assert "5 % of the monthly fee for each point of availability below 99.9 %" in example
    assert "GBP 600.02" in example and "GBP 2,400.10" in example
    saved(qtbot, editor, editor.save_credit_rule(), "Saved the credit rule of CT-NW-001")

    with db.session() as session:
        vendor = get_vendor(session, vendor_by_name(session, "Kestrel Data Centres"))
    assert (vendor.category, vendor.account_manager) == ("Network", "Ada Byron")
    assert [(c.name, c.email) for c in vendor.contacts] == [
        ("Grace Hopper", "grace@kestrel.example")
    ]
    (contract,) = vendor.contracts
    assert contract.monthly_fee == pytest.approx(12000.50)
    assert (contract.currency, contract.renewal_notice_days, contract.auto_renew) == (
        "GBP", 60, True,
    )  # fmt: skip
    assert sorted(contract.services) == sorted(services)
    got = {(t.metric, t.priority, t.target_minutes, t.target_percent, t.underpinning)
           for t in contract.targets}  # fmt: skip
    assert got == {("response", 1, 30, 95.0, True), ("resolution", 1, 240, None, True),
                   ("availability", None, None, 99.9, False)}  # fmt: skip
    ((metric, target, rate, cap),) = [
        (r.metric, r.target_percent, r.percent_per_point, r.cap_percent)
        for r in contract.credit_rules
    ]
    assert (metric, target, rate, cap) == ("availability", 99.9, 5.0, 20.0)

    # A target is edited and removed again.
    row = next(t for t in contract.targets if t.metric == "resolution")
    handle = editor.edit_target(row.id, {"metric": "resolution", "priority": 2, "time": "1d 2h",
                                         "percent": "90", "underpinning": True})  # fmt: skip
    saved(qtbot, editor, handle, "Saved the P2 resolution target")
    assert any(editor.targets.item(r, 2).text() == "1d 2h" for r in range(3))
    saved(qtbot, editor, editor.remove_target(row.id, ask=False), "Removed the P2 resolution")
    assert editor.targets.rowCount() == 2


def test_the_page_offers_new_and_edit_and_lists_the_saved_vendor(qtbot, open_window, db):
    window = open_window(db, clock=lambda: NOW)
    page = window.show_page("vendors")
    qtbot.waitUntil(lambda: page.is_loaded() or page.last_error is not None, timeout=20_000)
    qtbot.waitUntil(page.is_settled, timeout=10_000)
    assert page.new_vendor_button.text() == "New vendor…"

    editor = page.new_vendor()
    qtbot.waitUntil(editor.is_idle, timeout=10_000)
    editor.name.setText("Zeta Field Services")
    saved(qtbot, editor, editor.save_vendor(), "Saved the vendor Zeta Field Services")
    qtbot.waitUntil(lambda: "Zeta Field Services" in page.table.names(), timeout=15_000)
    qtbot.waitUntil(page.is_settled, timeout=10_000)
    editor.close()

    # Double-clicking a vendor's name opens it in the editor.
    row = 0
    vendor_id = page.table.vendor_at(row)
    rect = page.table.visualRect(page.table.proxy.index(row, NAME))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    from app.views.vendor_editor import VendorEditor

    by_click = VendorEditor._open.get((id(db), vendor_id))
    assert by_click is not None  # the double-click opened it
    opened = page.edit_vendor(vendor_id)  # asked again: the same window, raised
    assert opened is by_click
    qtbot.waitUntil(opened.is_idle, timeout=10_000)
    assert opened.vendor_id == vendor_id
    assert opened.title.text() == page.table.proxy.index(row, NAME).data()
    # A rename there is shown on the page.
    opened.name.setText("Aardvark Renamed Ltd")
    saved(qtbot, opened, opened.save_vendor(), "Saved the vendor Aardvark Renamed Ltd")
    qtbot.waitUntil(lambda: "Aardvark Renamed Ltd" in page.table.names(), timeout=15_000)
    qtbot.waitUntil(page.is_settled, timeout=10_000)
    opened.close()
    window.close()


def contract_count(db) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Contract))


def test_a_bad_contract_is_refused_with_the_reason_and_nothing_saved(qtbot, db):
    editor = open_editor(qtbot, db, 2)
    before = contract_count(db)
    editor.new_contract()
    editor.set_contract_values(reference="CT-BAD-1", title="Backwards",
                               starts_on=dt.date(2026, 6, 1), ends_on=dt.date(2026, 5, 1))  # fmt: skip
    assert editor.term_words.text() == "ends before it starts"
    assert editor.save_contract() is None
    assert not editor.problem.isHidden()
    assert editor.problem.text() == (
        "The contract ends on 2026-05-01, before it starts on 2026-06-01: "
        "the end must be on or after the start."
    )
    editor.set_contract_values(ends_on=dt.date(2027, 5, 31), monthly_fee="-10")
    assert editor.save_contract() is None
    assert editor.problem.text() == "The monthly fee cannot be negative (-10)."
    # The service's own refusals are shown the same way: a reference already taken.
    with db.session() as session:
        taken = session.scalar(select(Contract.reference).limit(1))
    editor.set_contract_values(monthly_fee="100", reference=taken)
    handle = editor.save_contract()
    qtbot.waitUntil(lambda: not editor.busy, timeout=10_000)
    assert handle is not None and f"There is already a contract {taken}" in editor.problem.text()
    assert contract_count(db) == before

    # Credit rules: percents 0-100 and a cap at least the rate.
    editor.select_contract(editor.vendor.contracts[0].reference)
    editor.set_credit_values(120, 5, 20)
    assert editor.save_credit_rule() is None
    assert editor.problem.text() == "The target must be above 0 and at most 100 %, not 120 %."
    editor.set_credit_values(99.5, 10, 5)
    assert "The cap (5 %) is below the credit per point (10 %)" in editor.credit_example.text()
    assert editor.save_credit_rule() is None
    assert editor.problem.text().startswith("The cap (5 %) is below the credit per point (10 %)")
    # A target share above 100 % is refused too.
    assert editor.add_target({"metric": "response", "priority": 2, "time": "1h",
                              "percent": "101", "underpinning": True}) is None  # fmt: skip
    assert "at most 100 %, not 101 %" in editor.problem.text()


def test_credit_rule_sentence():
    values = {"metric": "availability", "target": "99.9", "per_point": "5", "cap": "20"}
    assert check_credit(values)["cap_percent"] == 20.0
    text = credit_example(values, "10000", "EUR")
    assert "Example: 98.9 % is 1 point below target, so the credit is 5 % = EUR 500.00" in text
    assert "from 4 points below it stays at the cap of 20 % = EUR 2,000.00" in text


def test_edits_to_fields_they_did_not_touch_are_saved_on_top_of_theirs(
    qtbot, db, monkeypatch, message_boxes
):
    editor = open_editor(qtbot, db, 4)
    before = editor.vendor
    # Someone else saves the vendor after it was opened here.
    with db.transaction() as session:
        save_vendor(session, 4, {"category": "Changed elsewhere"}, expected_version=before.version)
    monkeypatch.setattr(conflict_dialog, "ask_conflict", lambda *_: pytest.fail("asked"))
    editor.account_manager.setText("Mine")
    editor.save_vendor()
    qtbot.waitUntil(lambda: editor.status.text().startswith("Saved"), timeout=10_000)
    with db.session() as session:
        vendor = get_vendor(session, 4)
    assert (vendor.category, vendor.account_manager) == ("Changed elsewhere", "Mine")
    assert editor.category.currentText() == "Changed elsewhere"
    assert not message_boxes


def test_a_field_both_changed_asks_and_keeps_the_side_picked(qtbot, db, monkeypatch):
    editor = open_editor(qtbot, db, 4)
    before = editor.vendor
    with db.transaction() as session:
        save_vendor(session, 4, {"account_manager": "Theirs", "website": "https://theirs.example"},
                    expected_version=before.version)  # fmt: skip
    asked = []

    def answer(_parent, message, _title, what, rows):
        asked.append((what, [(r.key, r.before, r.theirs, r.mine) for r in rows]))
        return Resolution(MERGE, {"account_manager": THEIRS, "website": MINE})

    monkeypatch.setattr(conflict_dialog, "ask_conflict", answer)
    editor.account_manager.setText("Mine")
    editor.website.setText("https://mine.example")
    editor.save_vendor()
    qtbot.waitUntil(lambda: editor.status.text().startswith("Saved"), timeout=10_000)
    what, rows = asked[0]
    assert what == "vendor"
    assert ("account_manager", before.account_manager or "—", "Theirs", "Mine") in rows
    with db.session() as session:
        vendor = get_vendor(session, 4)
    assert (vendor.account_manager, vendor.website) == ("Theirs", "https://mine.example")


def test_a_contract_both_changed_can_keep_mine(qtbot, db, monkeypatch):
    editor = open_editor(qtbot, db, 4)
    contract = editor.vendor.contracts[0]
    editor.contract_list.selectRow(0)
    qtbot.waitUntil(lambda: editor.contract() is not None, timeout=5_000)
    contract = editor.contract()
    with db.transaction() as session:
        save_contract(session, 4, contract.id, {"title": "Theirs"},
                      expected_version=contract.version)  # fmt: skip
    monkeypatch.setattr(conflict_dialog, "ask_conflict", lambda *_: Resolution(MINE))
    editor.contract_title.setText("Mine")
    editor.save_contract()
    qtbot.waitUntil(lambda: editor.status.text().startswith("Saved"), timeout=10_000)
    with db.session() as session:
        assert session.get(Contract, contract.id).title == "Mine"


def test_a_stale_contact_is_refused_explained_and_read_again(qtbot, db, message_boxes):
    editor = open_editor(qtbot, db, 4)
    contact = editor.vendor.contacts[0]
    with db.transaction() as session:
        save_contact(session, 4, contact.id, {"name": "Changed elsewhere"},
                     expected_version=contact.version)  # fmt: skip
    editor.edit_contact(contact.id, {"name": "Mine", "role": "", "email": "", "phone": ""})
    qtbot.waitUntil(lambda: bool(message_boxes), timeout=10_000)
    box = message_boxes[-1]
    assert box.windowTitle() == "Changed by someone else"
    assert "was changed by someone else after you opened it" in box.text()
    qtbot.waitUntil(lambda: editor.is_idle(), timeout=10_000)
    with db.session() as session:
        assert [c.name for c in get_vendor(session, 4).contacts if c.id == contact.id] == [
            "Changed elsewhere"
        ]


def test_a_contract_ending_soon_is_warned_about(qtbot, db):
    editor = open_editor(qtbot, db, 5)
    editor.new_contract()
    editor.set_contract_values(
        reference="CT-SOON-1", title="Short extension", starts_on=TODAY - dt.timedelta(days=300),
        ends_on=TODAY + dt.timedelta(days=50), monthly_fee="500", renewal_notice_days=0,
        auto_renew=False,
    )  # fmt: skip
    saved(qtbot, editor, editor.save_contract(), "Saved the contract CT-SOON-1")
    ends = TODAY + dt.timedelta(days=50)
    texts = editor.warning_texts()
    assert any(t.startswith("CT-SOON-1") and f"ends on {ends:%d %b %Y} (50 days)" in t
               for t in texts), texts  # fmt: skip
    assert any("CT-SOON-1" in t and "no SLA targets" in t for t in texts), texts
    assert not editor.warnings.isHidden()


def test_closing_with_unsaved_changes_asks_and_keeps_them_unless_told(qtbot, db, monkeypatch):
    from app.views import vendor_editor

    editor = open_editor(qtbot, db, 4)
    editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)  # qtbot closes it last
    assert editor.unsaved() == []
    editor.account_manager.setText("Someone new")
    editor.contract_list.selectRow(0)
    qtbot.waitUntil(lambda: editor.contract() is not None, timeout=5_000)
    reference = editor.contract().reference
    editor.contract_title.setText("Renamed, not saved")
    assert editor.unsaved() == ["the vendor", f"the contract {reference}"]
    asked = []
    monkeypatch.setattr(
        vendor_editor, "ask_discard", lambda _w, parts: asked.append(parts) or False
    )
    editor.show()
    editor.close()
    assert editor.isVisible()  # kept open: nothing lost
    assert asked == [["the vendor", f"the contract {reference}"]]
    saved(qtbot, editor, editor.save_vendor(), "Saved the vendor")
    # Saving the vendor read it again; the contract's unsaved edit is still in the form.
    assert editor.contract_title.text() == "Renamed, not saved"
    assert editor.unsaved() == [f"the contract {reference}"]
    saved(qtbot, editor, editor.save_contract(), "Saved the contract")
    assert editor.unsaved() == []
    monkeypatch.setattr(vendor_editor, "ask_discard", lambda *_: pytest.fail("asked"))
    editor.close()
    assert not editor.isVisible()


def test_a_half_typed_credit_rule_counts_as_unsaved(qtbot, db, monkeypatch):
    from app.views import vendor_editor

    editor = open_editor(qtbot, db, 4)
    editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)  # qtbot closes it last
    editor.contract_list.selectRow(0)
    qtbot.waitUntil(lambda: editor.contract() is not None, timeout=5_000)
    c = editor.contract()
    editor.credit_cap.setText("abc")
    assert editor.unsaved() == [f"the credit rule of {c.reference}"]
    monkeypatch.setattr(vendor_editor, "ask_discard", lambda *_: True)
    editor.show()
    editor.close()
    assert not editor.isVisible()
    editor.credit_cap.setText("")  # nothing left to ask about when qtbot closes it
