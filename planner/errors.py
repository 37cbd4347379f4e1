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


def own_warnings(caught) -> list[str]:
    """The planner's own warnings among ``warnings.catch_warnings(record=True)``'s (UserWarning: a
    forecast without a yearly cycle, a repaired gap), once each; a library's deprecation or
    convergence notes are left out. A run's summary carries them as ``warnings``."""
    out = []
    for w in caught:
        msg = str(w.message)
        if w.category is UserWarning and msg not in out:
            out.append(msg)
    return out
