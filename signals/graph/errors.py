"""What can go wrong while syncing.

SyncError
├── AuthError          no credential, or the login endpoint refused
├── GraphError         an HTTP answer the sync cannot use (status, code, url)
│   ├── RetryBudgetExhausted   throttled or failing longer than the retry budget
│   ├── DeltaExpired           410 / syncStateNotFound: start that folder again
│   └── NotPermitted           403: a permission is not granted (e.g. call records)
└── LeaseLost          another worker took the mailbox over (our lease had lapsed)

StopRequested is not an error: SIGTERM asked the worker to stop after its current page.
:func:`describe` is what gets recorded of any failure: no URL, no server message, no
value from the data, so that nothing personal lands in ``sync_state.last_error``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


class SyncError(RuntimeError):
    """Base of every sync failure."""


class AuthError(SyncError):
    pass


class GraphError(SyncError):
    def __init__(self, message: str, *, status: int = 0, code: str = "", url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.url = url


class RetryBudgetExhausted(GraphError):
    def __init__(self, message: str, *, attempts: int = 0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.attempts = attempts


class DeltaExpired(GraphError):
    pass


class NotPermitted(GraphError):
    pass


class LeaseLost(SyncError):
    pass


class StopRequested(BaseException):
    """SIGTERM: unwind after the page being written, releasing every lease on the way.

    A BaseException so that no per-source guard records it as a failure."""


def is_lock_conflict(exc: BaseException) -> bool:
    """A deadlock, a serialization failure or SQLite's busy lock: worth retrying at once."""
    if not isinstance(exc, DBAPIError):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in ("40P01", "40001") or "database is locked" in str(exc.orig)


def is_db_outage(exc: BaseException) -> bool:
    """The database cannot be reached (restart, failover, network): wait, then resume."""
    if not isinstance(exc, DBAPIError) or is_lock_conflict(exc):
        return False
    return bool(exc.connection_invalidated) or isinstance(exc, (OperationalError, InterfaceError))


def describe(exc: BaseException) -> str:
    """A failure as recorded and printed: its kind and codes, never data or URLs."""
    name = type(exc).__name__
    if isinstance(exc, RetryBudgetExhausted):
        return (
            f"{name}: gave up after {exc.attempts} attempts (last answer "
            f"{exc.status or 'network error'} {exc.code}".rstrip()
            + "); progress so far is kept"
        )
    if isinstance(exc, GraphError):
        return f"{name}: {exc.status} {exc.code}".rstrip()
    if isinstance(exc, SyncError):
        return f"{name}: {exc}"  # worded by us, without data
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        inner = type(exc.orig).__name__ if exc.orig is not None else ""
        return f"{name} ({inner}{', SQLSTATE ' + code if code else ''})"
    return name
