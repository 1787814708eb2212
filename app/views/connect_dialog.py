"""Ask where a shared PostgreSQL database is; the password is used once and never saved."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import URL

DEFAULT_PORT = 5432


class ConnectDialog(QDialog):
    """Host, port, database, user and password of a shared database."""

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to shared database")
        self._settings = settings
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
        if settings is not None:
            self.host.setText(str(settings.value("shared_db/host", "")))
            self.port.setValue(int(settings.value("shared_db/port", DEFAULT_PORT)))
            self.database.setText(str(settings.value("shared_db/database", "servicedeck")))
            self.user.setText(str(settings.value("shared_db/user", "")))

        form = QFormLayout()
        form.addRow("&Host", self.host)
        form.addRow("&Port", self.port)
        form.addRow("&Database", self.database)
        form.addRow("&User", self.user)
        form.addRow("Pass&word", self.password)
        note = QLabel("The password is used to connect and is not saved.")
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for field in (self.host, self.database, self.user):
            field.textChanged.connect(self._update_ok)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self._update_ok()
        (self.password if self.host.text() and self.user.text() else self.host).setFocus()

    def _update_ok(self) -> None:
        ready = all(f.text().strip() for f in (self.host, self.database, self.user))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ready)

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

    def accept(self) -> None:
        if self._settings is not None:
            self._settings.setValue("shared_db/host", self.host.text().strip())
            self._settings.setValue("shared_db/port", self.port.value())
            self._settings.setValue("shared_db/database", self.database.text().strip())
            self._settings.setValue("shared_db/user", self.user.text().strip())
        super().accept()
