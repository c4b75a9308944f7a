"""Blocks (PROTOCOL.md B8): who blocked whom, stored, and the questions the handlers ask."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError

from chat.extensions import db
from chat.models import Block
from chat.store.accounts import user_exists
from chat.store.domain import StoreError, UnknownRecipient


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


def blocked_by(user_id: str) -> set[str]:
    """The users ``user_id`` blocked (a range of the primary key)."""
    return set(db.session.scalars(select(Block.blocked_id).where(Block.blocker_id == user_id)))


def relations(user_id: str, others: Iterable[str]) -> tuple[set[str], set[str]]:
    """Among ``others``: those ``user_id`` blocked, and those who blocked ``user_id``."""
    others = list(others)
    if not others:
        return set(), set()
    rows = db.session.execute(
        select(Block.blocker_id, Block.blocked_id).where(
            or_(
                and_(Block.blocker_id == user_id, Block.blocked_id.in_(others)),
                and_(Block.blocked_id == user_id, Block.blocker_id.in_(others)),
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
