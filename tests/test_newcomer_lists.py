"""The users lists of new users (chat.roster.newcomer_lists): one read shared by the
newcomers arriving together, and each list exactly what users_list would have read alone."""

from __future__ import annotations

import pytest

from chat import roster, store
from chat.extensions import db
from chat.services import services
from tests.support.batching import Held, behind_the_first
from tests.support.inprocess import open_tab

NO_BLOCKS = store.Relations(frozenset(), frozenset())
OFFLINE = ["aaa", "ccc", "mmm"]
ONLINE = ["yan", "bea"]
NEWCOMERS = ["aab", "zzz", "abc", "ccd"]


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 8, 20])
def test_each_newcomer_gets_what_its_own_read_would_give(make_app, limit):
    # With up to limit - 1 online (all of them chosen whatever the sample's order); with
    # limit 2, the one online user takes the only place beside self.
    app = make_app(USERS_LIST_LIMIT=limit)
    online = ONLINE[: max(0, min(len(ONLINE), limit - 1))]
    with app.app_context():
        presence = services(app).presence
        ids = {}
        for name in OFFLINE + ONLINE + NEWCOMERS:
            me, _ = store.login(name)
            ids[name] = me.user_id
        for name in online:
            presence.connect(ids[name], f"sid-{name}")
        db.session.commit()
        batch = [roster.Newcomer(ids[name], name) for name in NEWCOMERS]
        shared = roster.newcomer_lists(batch)
        page = app.config["HISTORY_PAGE"]
        alone = [roster.users_list(n.user_id, presence, page, limit, [], NO_BLOCKS) for n in batch]
    assert shared == alone
    for name, listed in zip(NEWCOMERS, shared, strict=True):
        assert listed[0]["userID"] == ids[name] and listed[0]["connected"] is True
        assert len(listed) == min(limit, len(ids))
        assert {u["userID"] for u in listed} >= {ids[n] for n in online}


def test_a_batch_of_newcomers_reads_the_others_in_one_statement(app, count_statements):
    with app.app_context():
        for name in OFFLINE:
            store.login(name)
        batch = []
        for name in NEWCOMERS:
            me, _ = store.login(name)
            batch.append(roster.Newcomer(me.user_id, name))
        db.session.commit()
        with count_statements() as counter:
            lists = roster.newcomer_lists(batch)
    assert len(lists) == len(NEWCOMERS)
    assert len([s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_newcomers_arriving_together_share_a_read_and_see_each_other_as_alone(
    make_app, monkeypatch
):
    app = make_app(USERS_LIST_LIMIT=4)
    with app.app_context():
        aaa, _ = store.login("aaa")
        store.login("ccc")
        yan, _ = store.login("yan")
        store.touch_last_seen([aaa.user_id])
        db.session.commit()
        services(app).presence.connect(yan.user_id, "sid-yan")
    reads: list[set[str]] = []
    real_read = store.newcomer_listing

    def counted(chosen, limit):
        reads.append(set(chosen))  # the online users presence gave, in no promised order
        return real_read(chosen, limit)

    monkeypatch.setattr(store, "newcomer_listing", counted)
    held = Held(roster.newcomer_lists)
    monkeypatch.setattr(roster, "newcomer_lists", held)
    names = ["first", "aab", "zzz", "mmm"]
    tabs: list = [None] * len(names)

    def connect(i: int, name: str) -> None:
        tabs[i] = open_tab(app, username=name)

    behind_the_first(connect, names, held, lambda: roster.newcomers_of(app).pending())
    # The first alone (held), then the three that queued meanwhile: two reads.
    assert roster.newcomers_of(app).batches == 2
    assert reads == [{yan.user_id}, {yan.user_id, tabs[0].user_id}]
    by_tab = zip(names, tabs, strict=True)
    listed = {name: [u["username"] for u in tab.first("users")] for name, tab in by_tab}
    # Self first, then online users (yan; and first, online by the second read), then
    # others by name: aab finds itself by name, the others drop the last of those.
    assert listed == {
        "first": ["first", "aaa", "aab", "yan"],
        "aab": ["aab", "aaa", "first", "yan"],
        "zzz": ["zzz", "aaa", "first", "yan"],
        "mmm": ["mmm", "aaa", "first", "yan"],
    }
    statuses = {u["username"]: u for u in tabs[2].first("users")}
    assert statuses["yan"]["connected"] is True and statuses["first"]["connected"] is True
    assert statuses["aaa"]["connected"] is False and statuses["aaa"]["lastSeen"]
    assert statuses["zzz"]["messages"] == [] and statuses["zzz"]["unread"] == 0
    for tab in tabs:
        tab.close()
