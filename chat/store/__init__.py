"""Queries and commits, one module per concern; never touches ``request``, never emits.

``accounts`` (users and sessions), ``messages`` (the write path), ``conversations``
(history, read state), ``listings`` (users lists), ``edits`` (editing and deleting one's messages),
``blocks`` (who blocked whom), ``domain`` (Identity and the refusals). Callers use
the names re-exported here: ``from chat import store; store.save_message(...)``.
"""

from chat.store.accounts import (
    check_password,
    forget_new_user,
    get_user,
    hash_token,
    login,
    normalize_username,
    read_receipts_enabled,
    resume,
    revoke,
    search_users,
    set_password,
    set_read_receipts,
    sign_in,
    touch_last_seen,
    user_exists,
    user_status,
    usernames,
)
from chat.store.batch import save_grouped
from chat.store.blocks import (
    Blocked,
    Relations,
    block,
    blocked_between,
    blocked_by,
    blocks_of,
    relations,
    unblock,
)
from chat.store.conversations import (
    contact_ids,
    contacts,
    history,
    mark_read,
    newest_pages,
    rebuild_conversations,
    recount_conversations,
    unread_with,
)
from chat.store.domain import (
    Identity,
    InvalidUsername,
    RateLimited,
    StoreError,
    UnknownRecipient,
    UsernameTaken,
)
from chat.store.edits import NotFound, TooLate, delete_message, edit_message
from chat.store.listings import (
    Listed,
    conversation,
    listing,
    newcomer_listing,
    read_marks_shared_with,
)
from chat.store.messages import Saved, save_message

__all__ = [
    "Blocked",
    "Identity",
    "InvalidUsername",
    "Listed",
    "NotFound",
    "RateLimited",
    "Relations",
    "Saved",
    "StoreError",
    "TooLate",
    "UnknownRecipient",
    "UsernameTaken",
    "block",
    "blocked_between",
    "blocked_by",
    "blocks_of",
    "check_password",
    "contact_ids",
    "contacts",
    "conversation",
    "delete_message",
    "edit_message",
    "forget_new_user",
    "get_user",
    "hash_token",
    "history",
    "listing",
    "login",
    "mark_read",
    "newcomer_listing",
    "newest_pages",
    "normalize_username",
    "read_marks_shared_with",
    "read_receipts_enabled",
    "rebuild_conversations",
    "recount_conversations",
    "relations",
    "resume",
    "revoke",
    "save_grouped",
    "save_message",
    "search_users",
    "set_password",
    "set_read_receipts",
    "sign_in",
    "touch_last_seen",
    "unblock",
    "unread_with",
    "user_exists",
    "user_status",
    "usernames",
]
