"""A page load asks presence about the users it shows only, never for everyone online."""

from __future__ import annotations

from collections.abc import Iterable

from chat import store
from chat.presence import MemoryPresence
from chat.services import services
from tests.support.pages import login


class RecordingPresence(MemoryPresence):
    """Memory presence that records every read: (method, how many asked, or None: all)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, int | None]] = []

    def online(self, user_ids: Iterable[str] | None = None) -> set[str]:
        ids = None if user_ids is None else list(user_ids)
        self.reads.append(("online", None if ids is None else len(ids)))
        return super().online(ids)

    def some(self, limit: int) -> set[str]:
        self.reads.append(("some", limit))
        return super().some(limit)

    def count(self) -> int:
        self.reads.append(("count", None))
        return super().count()


def test_a_page_load_reads_presence_only_for_the_users_it_shows(app, client):
    limit = app.config["USERS_LIST_LIMIT"]
    presence = services(app).presence = RecordingPresence()
    with app.app_context():
        ids = [store.login(f"user{i:03}")[0].user_id for i in range(limit * 3)]
        outsider = store.login("zz-outsider")[0].user_id
    for i, uid in enumerate(ids):
        presence.connect(uid, f"sid{i}")
    login(client, "alice")
    presence.reads.clear()

    page = client.get(f"/?with={outsider}&q=user")
    assert page.status_code == 200
    assert "zz-outsider" in page.get_data(as_text=True)
    # The users list (some + online of at most `limit`), the conversation opened outside it
    # (one id), the search results (20): bounded by what the page shows, never everyone.
    assert ("online", None) not in presence.reads and ("count", None) not in presence.reads
    asked = [n for _, n in presence.reads]
    assert all(n is not None and n <= limit for n in asked), presence.reads
    assert len(presence.reads) <= 4
    assert sum(asked) <= 2 * limit + 1 + 20
