"""Blocks (PROTOCOL.md B8): who blocked whom, stored, and the questions the handlers ask."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import and_, bindparam, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError

from chat.extensions import db
from chat.models import Block
from chat.store.accounts import user_exists
from chat.store.domain import StoreError, UnknownRecipient

_BLOCKS = Block.__table__  # Core, as on the connect path: no ORM compile state per statement

# A connect reads all the blocks by or of its user when they are no more than this many.
BLOCKS_READ = 1000


class Blocked(StoreError):
    code = "blocked"


def _check_target(user_id: str, target_id: str) -> None:
    if target_id == user_id:
        raise StoreError("you cannot block yourself")
    if not user_exists(target_id, active=True):
        raise UnknownRecipient("no user has this userID")


def block(user_id: str, target_id: str) -> bool:
    """``user_id`` blocks ``target_id`` (idempotent), commits; returns the state, True."""
    _check_target(user_id, target_id)
    if db.session.get(Block, (user_id, target_id)) is None:
        db.session.add(Block(blocker_id=user_id, blocked_id=target_id))
        try:
            db.session.commit()
        except IntegrityError:  # the same block, stored at the same moment by another tab
            db.session.rollback()
    else:
        db.session.commit()
    return True


def unblock(user_id: str, target_id: str) -> bool:
    """``user_id`` unblocks ``target_id`` (idempotent), commits; returns the state, False."""
    _check_target(user_id, target_id)
    db.session.execute(
        delete(Block).where(Block.blocker_id == user_id, Block.blocked_id == target_id)
    )
    db.session.commit()
    return False


def _between(a: str, b: str):
    return or_(
        and_(Block.blocker_id == a, Block.blocked_id == b),
        and_(Block.blocker_id == b, Block.blocked_id == a),
    )


def blocked_between(a: str, b: str) -> bool:
    """True while either of the two users has blocked the other (two primary-key probes)."""
    if a == b:
        return False
    return bool(db.session.scalar(select(exists().where(_between(a, b)))))


class Relations(NamedTuple):
    """The users one user blocked (``mine``) and those who blocked it (``theirs``)."""

    mine: frozenset[str]
    theirs: frozenset[str]


def blocks_of(user_id: str, limit: int = BLOCKS_READ) -> Relations | None:
    """Every block by or of ``user_id``, or None when there are more than ``limit``: one
    statement of two index ranges (the primary key, ``ix_blocks_blocked``) with two bound
    parameters, where asking about a list of 100 users expands 200 (~15% of a connect)."""
    rows = db.session.execute(_BLOCKS_OF, {"user_id": user_id, "limit": limit + 1}).all()
    if len(rows) > limit:
        return None
    mine = frozenset(blocked for blocker, blocked in rows if blocker == user_id)
    return Relations(mine, frozenset(blocker for blocker, _ in rows if blocker != user_id))


_b = _BLOCKS.c
# Built once: reused, it hits the compiled cache without being built and keyed again.
_BLOCKS_OF = (
    select(_b.blocker_id, _b.blocked_id)
    .where(or_(_b.blocker_id == bindparam("user_id"), _b.blocked_id == bindparam("user_id")))
    .limit(bindparam("limit"))
)


def blocked_by(user_ids: Iterable[str]) -> dict[str, set[str]]:
    """Per user of ``user_ids``, the users it blocked (ranges of the primary key), in one
    statement; users who blocked nobody are left out."""
    ids = sorted(set(user_ids))
    out: dict[str, set[str]] = {}
    if not ids:
        return out
    b = _BLOCKS.c
    for blocker, blocked in db.session.execute(
        select(b.blocker_id, b.blocked_id).where(b.blocker_id.in_(ids))
    ):
        out.setdefault(blocker, set()).add(blocked)
    return out


def relations(
    user_id: str, others: Iterable[str], known: Relations | None = None
) -> tuple[set[str], set[str]]:
    """Among ``others``: those ``user_id`` blocked, and those who blocked ``user_id``.

    ``known``: ``blocks_of(user_id)``, if already read (then no statement runs).
    """
    others = set(others)
    if not others:
        return set(), set()
    if known is not None:
        return set(known.mine & others), set(known.theirs & others)
    b = _BLOCKS.c
    ids = sorted(others)
    rows = db.session.execute(
        select(b.blocker_id, b.blocked_id).where(
            or_(
                and_(b.blocker_id == user_id, b.blocked_id.in_(ids)),
                and_(b.blocked_id == user_id, b.blocker_id.in_(ids)),
            )
        )
    )
    mine: set[str] = set()
    theirs: set[str] = set()
    for blocker, blocked in rows:
        if blocker == user_id:
            mine.add(blocked)
        else:
            theirs.add(blocker)
    return mine, theirs


def remove_for_user(user_id: str) -> None:
    """Deletes every block by or of this user; the caller commits."""
    db.session.execute(
        delete(Block).where(or_(Block.blocker_id == user_id, Block.blocked_id == user_id))
    )
