"""Errors raised at the application boundary. All derive from builtins so callers can catch them."""

from __future__ import annotations


class PlannerError(Exception):
    """Base class of every error the planner raises on purpose."""


class InputDataError(PlannerError, ValueError):
    """A telemetry, catalog or scenario file is not what the planner expects.

    The message names the file, the row or column, and what was expected.
    """

    def __init__(self, message: str, *, path=None, row=None, column=None):
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ": ".join([", ".join(where)]) + ": " if where else ""
        super().__init__(prefix + message)
        self.path, self.row, self.column = path, row, column


class ScenarioError(PlannerError, ValueError):
    """A scenario file is invalid (names the file and the field)."""


class InfeasiblePlanError(PlannerError):
    """No plan satisfies the constraints; the message says which group, constraint and by how much."""


class VerificationError(PlannerError):
    """An independent check of a plan found a violation the solver did not report."""


def counted(messages) -> list[str]:
    """Each message once, where it was first said, with `` (×N)`` when it was said N > 1 times; a
    message that already ends in a count (from an earlier pass) adds that count."""
    import re

    counts: dict[str, int] = {}
    for m in messages:
        m = str(m)
        found = re.fullmatch(r"(.*) \(×(\d+)\)", m, flags=re.S)
        text, n = (found.group(1), int(found.group(2))) if found else (m, 1)
        counts[text] = counts.get(text, 0) + n
    return [t if n == 1 else f"{t} (×{n})" for t, n in counts.items()]


def own_warnings(caught) -> list[str]:
    """The planner's own warnings among ``warnings.catch_warnings(record=True)``'s (UserWarning: a
    forecast without a yearly cycle, a repaired gap), once each with their count (:func:`counted`);
    a library's deprecation or convergence notes are left out. A run's summary carries them as
    ``warnings``."""
    return counted(str(w.message) for w in caught if w.category is UserWarning)
