"""What can go wrong while syncing.

SyncError
├── AuthError          no credential, or the login endpoint refused
├── GraphError         an HTTP answer the sync cannot use (status, code, url)
│   ├── RetryBudgetExhausted   throttled or failing longer than the retry budget
│   ├── DeltaExpired           410 / syncStateNotFound: start that folder again
│   └── NotPermitted           403: a permission is not granted (e.g. call records)
└── LeaseLost          another worker took the mailbox over (our lease had lapsed)
"""

from __future__ import annotations


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
    pass


class DeltaExpired(GraphError):
    pass


class NotPermitted(GraphError):
    pass


class LeaseLost(SyncError):
    pass
