"""Sign in to a shared PostgreSQL database: host, port, database, user and password.

The dialog connects before it closes: a wrong password (or host, user, database) is said
in the dialog, which stays open with what was typed. Host, port, database and user are
kept in the settings; the password never is. Only when the user ticks "Remember" is it
kept, in the system keyring (the ``keyring`` package: Secret Service, KWallet, macOS
Keychain, Windows Credential Locker). On a computer without a keyring the box is off and
says why; a keyring that fails when used is reported and signing in goes on.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import URL

from app import APP_NAME
from app.db import Database, open_database
from app.views import ops
from app.views.theme import DANGER_TEXT

DEFAULT_PORT = 5432
#: The keyring "service" the passwords are kept under (one entry per user and database).
KEYRING_SERVICE = "Servicedeck"
NO_KEYRING = (
    "No system keyring is available on this computer, so the password cannot be "
    "remembered; it is asked for each time."
)


def keyring_problem() -> str | None:
    """Why passwords cannot be remembered here (no keyring package or backend), else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return NO_KEYRING
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring configuration
        return f"The system keyring cannot be used ({_first_line(exc)}), so the password cannot be remembered."
    if isinstance(backend, fail.Keyring):
        return NO_KEYRING
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def keyring_account(url: URL) -> str:
    """The keyring entry of a user on a database: ``alex@db1.example.com:5432/servicedeck``."""
    return f"{url.username}@{url.host}:{url.port or DEFAULT_PORT}/{url.database}"


def remembered_password(url: URL) -> str | None:
    """The password kept in the keyring for ``url``'s user and database, if any."""
    import keyring

    return keyring.get_password(KEYRING_SERVICE, keyring_account(url))


def remember_password(url: URL, password: str) -> None:
    """Keep ``password`` in the keyring; raises the keyring's error when it cannot."""
    import keyring

    keyring.set_password(KEYRING_SERVICE, keyring_account(url), password)


def forget_password(url: URL) -> None:
    """Take ``url``'s password out of the keyring (nothing if it was not there)."""
    import keyring
    from keyring.errors import PasswordDeleteError

    try:
        keyring.delete_password(KEYRING_SERVICE, keyring_account(url))
    except PasswordDeleteError:
        pass


def sign_in_failure(exc: BaseException, url: URL) -> str:
    """What went wrong signing in to ``url``, in a sentence a person can act on."""
    text = str(exc)
    low = text.lower()
    user, host, database = url.username, url.host, url.database
    if "password authentication failed" in low:
        return (
            f"The server refused the password for {user}. Check the password (and the user "
            "name) and try again."
        )
    if "no password supplied" in low or "password is required" in low:
        return f"The server asks for a password for {user}: type it and try again."
    if f'role "{user}" does not exist'.lower() in low:
        return f"There is no database user {user} on {host}. Check the user name."
    if f'database "{database}" does not exist'.lower() in low:
        return f"There is no database {database} on {host}. Check the database name."
    if "not permitted to log in" in low:
        return f"The database user {user} may not sign in (it is a group role, not a person)."
    if (
        "timeout expired" in low
        or "could not translate host name" in low
        or ("connection refused" in low)
    ):
        return f"Cannot reach the server {host}:{url.port}: {_first_line(exc)}"
    return _first_line(exc)


class ConnectDialog(QDialog):
    """Host, port, database, user and password of a shared database; signs in on Connect.

    After it is accepted through Connect, ``opened`` is the open database (the
    caller owns it); ``accept()`` called directly only keeps the settings.
    """

    def __init__(
        self,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
        *,
        opener: Callable[[URL], Database] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to shared database")
        self._settings = settings
        self._opener = opener or open_database
        self._attempt: ops.OpHandle | None = None
        self._abandoned = False
        #: The database signed in to (set when Connect succeeded; the caller owns it).
        self.opened: Database | None = None
        self.host = QLineEdit()
        self.host.setPlaceholderText("db.example.com")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(DEFAULT_PORT)
        self.database = QLineEdit()
        self.database.setPlaceholderText("servicedeck")
        self.user = QLineEdit()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember = QCheckBox("&Remember the password in the system keyring")
        remember_wanted = False
        if settings is not None:
            self.host.setText(str(settings.value("shared_db/host", "")))
            self.port.setValue(int(settings.value("shared_db/port", DEFAULT_PORT)))
            self.database.setText(str(settings.value("shared_db/database", "servicedeck")))
            self.user.setText(str(settings.value("shared_db/user", "")))
            remember_wanted = str(settings.value("shared_db/remember", "false")).lower() == "true"

        form = QFormLayout()
        form.addRow("&Host", self.host)
        form.addRow("&Port", self.port)
        form.addRow("&Database", self.database)
        form.addRow("&User", self.user)
        form.addRow("Pass&word", self.password)
        form.addRow("", self.remember)
        self.note = QLabel(
            "The password is never written to a settings file; tick Remember to keep it "
            "in the system keyring instead."
        )
        self.note.setWordWrap(True)
        self.message = QLabel()
        self.message.setObjectName("connectMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {DANGER_TEXT}")
        self.message.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.connect_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.connect_button.setText("Connect")
        self.buttons.accepted.connect(self.sign_in)
        self.buttons.rejected.connect(self.reject)
        for field in (self.host, self.database, self.user):
            field.textChanged.connect(self._update_ok)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

        self.keyring_problem = keyring_problem()
        if self.keyring_problem is not None:
            self.remember.setEnabled(False)
            self.remember.setToolTip(self.keyring_problem)
            self.note.setText(self.keyring_problem)
        elif remember_wanted:
            self.remember.setChecked(True)
            self._fill_remembered_password()
        self._update_ok()
        (self.password if self.host.text() and self.user.text() else self.host).setFocus()

    def _fill_remembered_password(self) -> None:
        if not (self.host.text().strip() and self.user.text().strip()):
            return
        try:
            password = remembered_password(self.url())
        except Exception as exc:  # a locked or broken keyring: ask for the password
            self.show_message(
                f"The remembered password could not be read from the system keyring "
                f"({_first_line(exc)}); type it."
            )
            return
        if password:
            self.password.setText(password)

    def _update_ok(self) -> None:
        ready = all(f.text().strip() for f in (self.host, self.database, self.user))
        self.connect_button.setEnabled(ready and self._attempt is None)

    def url(self) -> URL:
        """The ``postgresql+psycopg`` URL typed in (with the password, in memory only)."""
        return URL.create(
            "postgresql+psycopg",
            username=self.user.text().strip(),
            password=self.password.text() or None,
            host=self.host.text().strip(),
            port=self.port.value(),
            database=self.database.text().strip(),
        )

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _set_busy(self, busy: bool) -> None:
        for field in (
            self.host,
            self.port,
            self.database,
            self.user,
            self.password,
        ):
            field.setEnabled(not busy)
        self.remember.setEnabled(not busy and self.keyring_problem is None)
        self._update_ok()

    def sign_in(self) -> ops.OpHandle | None:
        """Connect in the background; close on success, else say why and stay open."""
        if self._attempt is not None:
            return self._attempt
        url = self.url()
        opener = self._opener
        self._abandoned = False
        self.show_message("")
        self.note.setText(f"Connecting to {url.host} as {url.username}…")
        self._attempt = (
            ops.BackgroundOp(
                parent=self,
                op=lambda _progress: opener(url),
                success=lambda db: self._signed_in(url, db),
            )
            .failure(lambda exc: self._failed(url, exc))
            .run_in_background()
        )
        self._set_busy(True)
        return self._attempt

    def _signed_in(self, url: URL, database: Database) -> None:
        self._attempt = None
        if self._abandoned:  # cancelled while connecting
            database.dispose()
            return
        self._set_busy(False)
        self.opened = database
        self._keep_password(url)
        self.accept()

    def _failed(self, url: URL, exc: BaseException) -> None:
        self._attempt = None
        self._set_busy(False)
        self.note.setText("")
        if self._abandoned:
            return
        self.show_message(sign_in_failure(exc, url))
        wrong_password = "password" in str(exc).lower()
        target = self.password if wrong_password else self.host
        target.setFocus()
        if wrong_password:
            self.password.selectAll()

    def _keep_password(self, url: URL) -> None:
        """Remember (or forget) the password in the keyring, as the box says."""
        if self.keyring_problem is not None:
            return
        try:
            if self.remember.isChecked() and url.password:
                remember_password(url, url.password)
            else:
                forget_password(url)
        except Exception as exc:  # no usable keyring after all, or it refused
            box = QMessageBox(
                QMessageBox.Icon.Warning,
                APP_NAME,
                f"Signed in, but the password could not be remembered: the system keyring "
                f"said “{_first_line(exc)}”. It will be asked for next time.",
                QMessageBox.StandardButton.Ok,
                self.parentWidget(),
            )
            box.exec()
            self.remember.setChecked(False)

    def accept(self) -> None:
        if self._settings is not None:
            self._settings.setValue("shared_db/host", self.host.text().strip())
            self._settings.setValue("shared_db/port", self.port.value())
            self._settings.setValue("shared_db/database", self.database.text().strip())
            self._settings.setValue("shared_db/user", self.user.text().strip())
            self._settings.setValue("shared_db/remember", self.remember.isChecked())
        super().accept()

    def reject(self) -> None:
        self._abandoned = True
        super().reject()
