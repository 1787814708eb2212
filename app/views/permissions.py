"""What the signed-in role may do, per window: the console hides it, the database refuses it.

On PostgreSQL each person signs in with their own database user, and the database's GRANTs
decide who may write what (:mod:`app.db.roles`). The console only follows suit:

- :class:`WindowRole` is the role of a window's database user, read once in the background
  after the window has painted (:func:`read_signed_in`). Until it is known nothing is
  disabled, but :meth:`WindowRole.allows` says no, so background writers (the SLA
  refresher) wait for it. On SQLite there are no database users and everything is allowed
  at once.
- A page that has write actions implements ``set_role(roles)``; the window calls it when
  the role is known (and for pages created later). It passes its buttons and actions to
  :func:`allow`, which keeps each one disabled while the role may not do its action, even
  when the page enables it again (on a selection change, say).
- :func:`refused_sentence` turns an error the database raised for a missing right into
  :func:`app.db.roles.missing_right`'s sentence, for :func:`app.views.ops.show_error`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db import Database, Identity
from app.db.roles import NO_ROLE, OWNER, can, missing_right, role_of, roles_of
from app.models.enums import Role
from app.services.users import identity_for
from app.views import ops

Target = QAction | QWidget

#: The words the status bar uses for the pseudo-roles of :func:`app.db.roles.role_of`.
_PSEUDO_LABELS = {OWNER: "owner", NO_ROLE: "no Servicedeck role"}


def role_text(role: str | None) -> str:
    """``change manager`` for ``change_manager``; the pseudo-roles in words."""
    if role is None:
        return ""
    if role in _PSEUDO_LABELS:
        return _PSEUDO_LABELS[role]
    try:
        return Role(role).label
    except ValueError:
        return role


@dataclass(frozen=True)
class SignedIn:
    """Who the database says is signed in (all None on SQLite)."""

    user: str | None = None
    #: What the status bar shows (see :func:`app.db.roles.role_of`).
    role: str | None = None
    #: Every Servicedeck role of the user, for :func:`app.db.roles.can`.
    roles: frozenset[str] | None = None
    #: The user's console identity (their AppUser row, else one made from the user name).
    identity: Identity | None = None


def read_signed_in(session: Session) -> SignedIn:
    """The database user of ``session``, their role(s) and identity; SignedIn() on SQLite."""
    roles = roles_of(session)
    if roles is None:
        return SignedIn()
    user = session.execute(text("SELECT current_user")).scalar_one()
    role = role_of(session)
    identity = identity_for(session, user) or Identity(
        username=user, user_id=None, display_name=user, role=role or NO_ROLE
    )
    return SignedIn(user=user, role=role, roles=roles, identity=identity)


class WindowRole(QObject):
    """The role of the database user a window shows; read in the background by :meth:`load`."""

    #: The role is known now; the argument is the set of roles (None: everything allowed).
    changed = Signal(object)

    def __init__(self, window: QWidget, db: Database) -> None:
        super().__init__(window)
        self.window = window
        self.db = db
        #: SQLite has no database users: everything is allowed from the start.
        self.known = db.is_sqlite
        self.signed_in = SignedIn()
        self.error: BaseException | None = None

    @property
    def user(self) -> str | None:
        return self.signed_in.user

    @property
    def role(self) -> str | None:
        return self.signed_in.role

    @property
    def roles(self) -> frozenset[str] | None:
        return self.signed_in.roles

    def allows(self, action: str) -> bool:
        """Whether the role may do ``action`` (a key of :data:`app.db.roles.ACTIONS`).

        False while the role is still being read, so nothing writes before it is known.
        """
        return self.known and can(self.roles, action)

    def status_text(self) -> str | None:
        """``alex · agent`` once the role of a database user is known, else None."""
        if not self.known or self.user is None:
            return None
        return f"{self.user} · {role_text(self.role)}"

    def load(self) -> ops.OpHandle | None:
        """Read the role in the background (nothing to read on SQLite)."""
        if self.db.is_sqlite:
            return None
        return (
            ops.QueryOp(
                parent=self.window,
                db=self.db,
                op=lambda session, _progress: read_signed_in(session),
                success=self.set_signed_in,
            )
            # A database that cannot be read is reported by the page's own load; the role
            # then stays unknown and nothing writes in the background.
            .failure(self._failed)
            .run_in_background()
        )

    def set_signed_in(self, signed_in: SignedIn) -> None:
        self.signed_in = signed_in
        self.known = True
        self.error = None
        if signed_in.identity is not None:
            self.db.identity = signed_in.identity
        self.changed.emit(signed_in.roles)

    def _failed(self, exc: BaseException) -> None:
        self.error = exc

    def attach(self, page: QObject) -> None:
        """Tell ``page`` the role now (if known) and whenever it changes, via ``set_role``."""
        set_role = getattr(page, "set_role", None)
        if set_role is None:
            return
        if self.known:
            set_role(self.roles)
        self.changed.connect(set_role)


def window_role(widget: QObject | None) -> WindowRole | None:
    """The :class:`WindowRole` of the window ``widget`` belongs to (dialogs included)."""
    obj = widget
    while obj is not None and shiboken6.isValid(obj):
        found = getattr(obj, "permissions", None)
        if isinstance(found, WindowRole):
            return found
        obj = obj.parent()
    return None


def roles_for(widget: QObject | None) -> frozenset[str] | None:
    """The roles of ``widget``'s window (None when unknown or on SQLite)."""
    found = window_role(widget)
    return found.roles if found is not None else None


def may(widget: QObject | None, action: str) -> bool:
    """Whether the role of ``widget``'s window may do ``action``: what a form asks before it
    offers its fields and buttons (True on SQLite, and while the role is still unknown)."""
    return can(roles_for(widget), action)


def read_only_reason(widget: QObject | None, action: str) -> str | None:
    """Why a form of ``widget``'s window is read only ("Your role (viewer) may not do
    this."), or None when its role may do ``action``."""
    roles = roles_for(widget)
    return None if can(roles, action) else refused_reason(roles, action)


def refused_sentence(widget: QObject | None, exc: BaseException) -> str | None:
    """The "which right is missing" sentence for ``exc`` (or what caused it), else None."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        sentence = missing_right(error, roles_for(widget))
        if sentence is not None:
            return sentence
        error = error.__cause__ or error.__context__
    return None


# --- keeping actions disabled -------------------------------------------------------

_GUARD_NAME = "servicedeckPermissionGuard"


class _Guard(QObject):
    """Keeps one action or widget disabled while its action is not allowed."""

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.setObjectName(_GUARD_NAME)
        self.target = target
        self.allowed = True
        self.hide = False
        #: The state the page last gave the target; restored when the action is allowed.
        self.wanted = self._explicitly_enabled()
        self._forcing = False
        if isinstance(target, QAction):
            target.changed.connect(self._enforce)
        else:
            target.installEventFilter(self)

    def _explicitly_enabled(self) -> bool:
        target = self.target
        if isinstance(target, QAction):
            return target.isEnabled()
        return not target.testAttribute(Qt.WidgetAttribute.WA_ForceDisabled)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt name
        if event.type() == QEvent.Type.EnabledChange:
            self._enforce()
        return False

    def _enforce(self) -> None:
        if self._forcing or self.allowed or not self._explicitly_enabled():
            return
        self.wanted = True  # the page enabled it; it stays off while the role may not
        self._set(False)

    def _set(self, enabled: bool) -> None:
        self._forcing = True
        try:
            self.target.setEnabled(enabled)
        finally:
            self._forcing = False

    def update(self, allowed: bool, reason: str, hide: bool) -> None:
        if allowed == self.allowed and hide == self.hide:
            return
        if not allowed and self.allowed:
            self.wanted = self._explicitly_enabled()
        was_hidden = self.hide and not self.allowed
        self.allowed = allowed
        self.hide = hide
        self._set(self.wanted if allowed else False)
        self.target.setProperty("refusedBecause", "" if allowed else reason)
        if hide and not allowed:
            self.target.setVisible(False)
        elif was_hidden:
            self.target.setVisible(True)


def _guard(target: Target) -> _Guard:
    guard = target.findChild(_Guard, _GUARD_NAME, Qt.FindChildOption.FindDirectChildrenOnly)
    return guard if guard is not None else _Guard(target)


def refused_reason(roles: str | Iterable[str] | None, action: str) -> str:
    """Why ``action`` is off, in words: "Your role (viewer) may not do this"."""
    shown = sorted(roles) if roles is not None and not isinstance(roles, str) else [roles]
    words = ", ".join(role_text(r) for r in shown if r)
    return f"Your role ({words}) may not do this." if words else "Your role may not do this."


def allow(
    roles: str | Iterable[str] | None,
    targets: Mapping[str | tuple[str, ...], Iterable[Target]],
    *,
    hide: bool = False,
) -> None:
    """Enable each target only if ``roles`` may do its action (``{action: [targets]}``; a
    tuple of actions when the target needs every one of them).

    A target the role may not use stays disabled (and hidden with ``hide``) even when its
    page enables it again; once allowed, it gets back the state its page last gave it.
    ``None`` roles (SQLite, or the owner) allow everything.
    """
    for actions, group in targets.items():
        needed = (actions,) if isinstance(actions, str) else actions
        missing = next((a for a in needed if not can(roles, a)), None)
        allowed = missing is None
        reason = "" if missing is None else refused_reason(roles, missing)
        for target in group:
            if target is None or not shiboken6.isValid(target):
                continue
            _guard(target).update(allowed, reason, hide)


def is_refused(target: Target) -> bool:
    """Whether :func:`allow` keeps ``target`` off for the role."""
    guard = target.findChild(_Guard, _GUARD_NAME, Qt.FindChildOption.FindDirectChildrenOnly)
    return guard is not None and not guard.allowed
