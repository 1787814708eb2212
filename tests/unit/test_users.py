"""The console's user: an AppUser row decides the name and role shown and audited."""

from __future__ import annotations

from app.models import AppUser, Incident
from app.services.summary import has_incidents
from app.services.users import current_username, identity_for, role_label


def test_an_active_app_user_gives_the_identity(db):
    with db.transaction() as s:
        s.add(AppUser(username="akim", display_name="Alex Kim", role="service_manager"))
        s.add(AppUser(username="gone", display_name="Old Hand", role="agent", active=False))
    with db.session() as s:
        identity = identity_for(s, "akim")
        assert (identity.username, identity.display_name, identity.role) == (
            "akim",
            "Alex Kim",
            "service_manager",
        )
        assert identity.user_id is not None
        assert identity_for(s, "gone") is None
        assert identity_for(s, "nobody") is None


def test_role_labels_and_the_os_user():
    assert role_label("service_manager") == "service manager"
    assert role_label("admin") == "admin"
    assert role_label("auditor") == "auditor"
    assert current_username()


def test_has_incidents(db):
    with db.session() as s:
        assert not has_incidents(s)
    with db.transaction() as s:
        s.add(Incident(number="INC1", short_description="x"))
    with db.session() as s:
        assert has_incidents(s)
