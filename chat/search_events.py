"""Socket.IO handler of ``search messages`` (PROTOCOL.md B9): a user searching its own
conversations. Registered by importing this module before ``socketio.init_app``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictInt, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from chat import attachments, payloads, store
from chat.dispatch import Payload, handler
from chat.events import MessageID, UserID
from chat.store import search

DEFAULT_LIMIT = 20


class SearchMessages(Payload):
    q: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    with_: UserID | None = Field(default=None, alias="with")
    before: MessageID | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=50)] | None = None

    @field_validator("q")
    @classmethod
    def _has_a_word(cls, value: str) -> str:
        if not search.words(value):
            raise PydanticCustomError("invalid_payload", "q has no letter or digit")
        return value


@handler("search messages", SearchMessages, limit="search", target="with_")
def on_search_messages(me: store.Identity, req: SearchMessages, _sid: str) -> dict[str, Any]:
    """A user's search of its conversations (or the one ``with``): matches newest first."""
    messages, has_more = search.search(
        me.user_id, req.q, req.with_, req.before, req.limit or DEFAULT_LIMIT
    )
    files = attachments.for_messages(m.id for m in messages)
    return {"ok": True, "messages": payloads.messages(messages, files), "hasMore": has_more}
