"""Signing in to a shared database: a wrong password is said in the dialog; the keyring."""

from __future__ import annotations

import time

import keyring
import psycopg
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringLocked, PasswordDeleteError

from app.db import roles as R
from app.views.connect_dialog import NO_KEYRING, ConnectDialog
from app.views.main_window import app_settings

SECRET_USER = "gp_secret"
PASSWORD = "right horse battery"


class MemoryKeyring(KeyringBackend):
    """A keyring in a dict, so no test touches the developer's own."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class LockedKeyring(MemoryKeyring):
    def set_password(self, service, username, password):
        raise KeyringLocked("the collection is locked")


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


@pytest.fixture
def secret_server(pg_server):
    """A database whose user ``gp_secret`` must give a password (the rest of the server trusts)."""
    url = pg_server.create_database("t_connect_dialog")
    R.init_database(url)
    R.add_user(url, SECRET_USER, "agent", password=PASSWORD)
    hba = pg_server.data / "pg_hba.conf"
    rule = f"host all {SECRET_USER} 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if rule not in text:
        hba.write_text(rule + text)  # the first matching line wins
        with psycopg.connect(pg_server.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
    plain = f"host=127.0.0.1 port={pg_server.port} dbname=t_connect_dialog user={SECRET_USER}"
    deadline = time.monotonic() + 10
    while True:  # the server reloads its rules in a moment
        try:
            psycopg.connect(plain, password="not it", connect_timeout=5).close()
        except psycopg.OperationalError:
            break
        assert time.monotonic() < deadline, "the password rule did not take effect"
        time.sleep(0.05)
    return pg_server


def fill(dialog: ConnectDialog, server, password: str) -> None:
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(server.port)
    dialog.database.setText("t_connect_dialog")
    dialog.user.setText(SECRET_USER)
    dialog.password.setText(password)


@pytest.mark.pg
def test_a_wrong_password_is_said_and_the_dialog_stays_open_with_the_fields(
    qtbot, secret_server, memory_keyring
):
    dialog = ConnectDialog(app_settings())
    qtbot.addWidget(dialog)
    dialog.show()
    fill(dialog, secret_server, "wrong")
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=15_000)
    assert dialog.message.text() == (
        f"The server refused the password for {SECRET_USER}. Check the password (and the "
        "user name) and try again."
    )
    assert dialog.isVisible() and dialog.opened is None
    assert (dialog.host.text(), dialog.user.text(), dialog.password.text()) == (
        "127.0.0.1",
        SECRET_USER,
        "wrong",
    )
    assert dialog.connect_button.isEnabled() and dialog.password.isEnabled()

    dialog.password.setText(PASSWORD)
    dialog.remember.setChecked(True)
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: dialog.opened is not None, timeout=15_000)
    try:
        assert dialog.result() == ConnectDialog.DialogCode.Accepted
        assert not dialog.isVisible()
        assert list(memory_keyring.entries.values()) == [PASSWORD]
        settings = app_settings()
        saved = {key: settings.value(key) for key in settings.allKeys()}
        assert PASSWORD not in repr(saved)
        assert saved["shared_db/user"] == SECRET_USER
    finally:
        dialog.opened.dispose()

    again = ConnectDialog(app_settings())
    qtbot.addWidget(again)
    assert again.remember.isChecked() and again.password.text() == PASSWORD


@pytest.mark.pg
def test_an_unknown_database_user_is_named(qtbot, pg_server, memory_keyring):
    dialog = ConnectDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(pg_server.port)
    dialog.database.setText("postgres")
    dialog.user.setText("gp_nobody")
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=15_000)
    assert (
        dialog.message.text()
        == "There is no database user gp_nobody on 127.0.0.1. Check the user name."
    )
    assert dialog.isVisible() and dialog.user.text() == "gp_nobody"


def test_forgetting_takes_the_password_out_of_the_keyring(qtbot, memory_keyring):
    from sqlalchemy.engine import URL

    from app.views import connect_dialog

    url = URL.create("postgresql+psycopg", "alex", "pw", "db1", 5432, "deck")
    connect_dialog.remember_password(url, "pw")
    assert memory_keyring.entries == {("Servicedeck", "alex@db1:5432/deck"): "pw"}
    connect_dialog.forget_password(url)
    connect_dialog.forget_password(url)  # not there: nothing happens
    assert memory_keyring.entries == {}


def test_without_a_keyring_remember_is_off_and_says_why(qtbot):
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        settings = app_settings()
        settings.setValue("shared_db/remember", True)
        dialog = ConnectDialog(settings)
        qtbot.addWidget(dialog)
    finally:
        keyring.set_keyring(before)
    assert not dialog.remember.isEnabled() and not dialog.remember.isChecked()
    assert dialog.remember.toolTip() == NO_KEYRING
    assert dialog.note.text() == NO_KEYRING


def test_a_keyring_that_refuses_is_reported_and_signing_in_goes_on(qtbot, db, message_boxes):
    before = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    try:
        dialog = ConnectDialog(app_settings(), opener=lambda _url: db)
        qtbot.addWidget(dialog)
        dialog.show()
        for field, value in ((dialog.host, "db1"), (dialog.user, "alex")):
            field.setText(value)
        dialog.password.setText("pw")
        dialog.remember.setChecked(True)
        dialog.connect_button.click()
        qtbot.waitUntil(lambda: dialog.opened is db, timeout=10_000)
    finally:
        keyring.set_keyring(before)
    [box] = message_boxes
    assert box.text().startswith("Signed in, but the password could not be remembered")
    assert "the collection is locked" in box.text()
    assert dialog.result() == ConnectDialog.DialogCode.Accepted
    assert not dialog.remember.isChecked()


def test_the_password_is_never_in_the_settings_without_remember(qtbot, db, memory_keyring):
    memory_keyring.entries[("Servicedeck", "alex@db1:5432/servicedeck")] = "old"
    dialog = ConnectDialog(app_settings(), opener=lambda _url: db)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.host.setText("db1")
    dialog.user.setText("alex")
    dialog.password.setText("s3cret")
    assert not dialog.remember.isChecked()
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: dialog.opened is db, timeout=10_000)
    settings = app_settings()
    assert "s3cret" not in repr({key: settings.value(key) for key in settings.allKeys()})
    assert memory_keyring.entries == {}  # not remembered: an old entry is forgotten too
