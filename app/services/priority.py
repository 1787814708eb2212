"""The editable impact x urgency priority matrix: read it, apply it, change a cell."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import PriorityRule

#: ITIL's default matrix (DOMAIN.md), used for any cell the database lacks.
DEFAULT_MATRIX: dict[tuple[int, int], int] = {
    (1, 1): 1,
    (1, 2): 2,
    (1, 3): 3,
    (2, 1): 2,
    (2, 2): 3,
    (2, 3): 4,
    (3, 1): 3,
    (3, 2): 4,
    (3, 3): 5,
}
#: Impact and urgency: 1 = High, 2 = Medium, 3 = Low.
LEVEL_NAMES = {1: "High", 2: "Medium", 3: "Low"}


class PriorityError(ValueError):
    """An impact, urgency or priority outside its range; the message says which."""


def check_level(value: Any, what: str) -> int:
    """``value`` as an impact or urgency 1-3, or a :class:`PriorityError` naming ``what``."""
    return _check_int(value, what, 1, 3, "1 (High), 2 (Medium) or 3 (Low)")


def check_priority(value: Any) -> int:
    """``value`` as a priority 1-5, or a :class:`PriorityError`."""
    return _check_int(value, "Priority", 1, 5, "a number from 1 (Critical) to 5 (Planning)")


def _check_int(value: Any, what: str, low: int, high: int, expected: str) -> int:
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        shown = repr(value) if not isinstance(value, str) else f"“{value[:40]}”"
        raise PriorityError(f"{what} must be {expected}, not {shown}.")
    return number


def matrix(session: Session) -> dict[tuple[int, int], int]:
    """The whole matrix as ``{(impact, urgency): priority}`` (defaults fill missing cells)."""
    cells = dict(DEFAULT_MATRIX)
    rows = session.execute(select(PriorityRule.impact, PriorityRule.urgency, PriorityRule.priority))
    for impact, urgency, priority in rows:
        cells[(impact, urgency)] = priority
    return cells


def compute_priority(session: Session, impact: Any, urgency: Any) -> int:
    """The priority the matrix gives ``impact`` and ``urgency`` (each 1-3)."""
    impact = check_level(impact, "Impact")
    urgency = check_level(urgency, "Urgency")
    priority = session.scalar(
        select(PriorityRule.priority).where(
            PriorityRule.impact == impact, PriorityRule.urgency == urgency
        )
    )
    return priority if priority is not None else DEFAULT_MATRIX[(impact, urgency)]


def update_rule(session: Session, impact: Any, urgency: Any, priority: Any) -> PriorityRule:
    """Set the matrix cell (impact, urgency) to ``priority``; audited like every edit."""
    impact = check_level(impact, "Impact")
    urgency = check_level(urgency, "Urgency")
    priority = check_priority(priority)
    rule = session.scalar(
        select(PriorityRule).where(PriorityRule.impact == impact, PriorityRule.urgency == urgency)
    )
    if rule is None:
        rule = PriorityRule(impact=impact, urgency=urgency, priority=priority)
        session.add(rule)
    else:
        rule.priority = priority
    session.flush()
    return rule
