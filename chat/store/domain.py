"""What the stores share with their callers: who acts (``Identity``) and the refusals."""

from __future__ import annotations

from dataclasses import dataclass, field


class StoreError(Exception):
    """A refusal the caller turns into an error code; ``code`` is from PROTOCOL.md B6."""

    code = "invalid_payload"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidUsername(StoreError):
    code = "invalid username"


class UsernameTaken(StoreError):
    code = "username taken"


class RateLimited(StoreError):
    code = "rate limited"


class UnknownRecipient(StoreError):
    code = "unknown_recipient"


@dataclass(frozen=True)
class Identity:
    """Who a socket or a page request acts as."""

    user_id: str
    username: str
    session_id: int
    # Created by the login that made this identity; not part of who it is.
    new_user: bool = field(default=False, compare=False)
