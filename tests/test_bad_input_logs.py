"""Bad input cannot flood the logs: every bad payload is acked, a bounded number logged."""

from __future__ import annotations

import logging

from chat import instrument, metrics


def _error_ack_lines(caplog, user_id: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if getattr(r, "event", None) == "error_ack" and getattr(r, "userID", None) == user_id
    ]


def test_a_thousand_bad_payloads_are_all_acked_and_few_logged(connect_as, caplog):
    bob = connect_as("bob")
    alice = connect_as("alice")
    unlogged = metrics.UNLOGGED_ACKS._value.get()
    with caplog.at_level(logging.INFO, logger="chat.events"):
        acks = [alice.emit("private message", {"to": bob.user_id, "n": i}) for i in range(1000)]
        # Another user's bad input is logged from its own budget.
        assert bob.emit("typing", {"to": 7})["error"] == "invalid_payload"
    assert all(a["ok"] is False and a["error"] == "invalid_payload" for a in acks)
    lines = _error_ack_lines(caplog, alice.user_id)
    # The burst, plus what the budget refilled while the test ran (10 a minute).
    assert instrument.ERROR_LOG_BURST <= len(lines) <= instrument.ERROR_LOG_BURST + 5
    assert metrics.UNLOGGED_ACKS._value.get() - unlogged == 1000 - len(lines)
    assert len(_error_ack_lines(caplog, bob.user_id)) == 1
    # The socket still works, and it was not disconnected for its garbage.
    assert alice.send(bob.user_id, "still here")["ok"] is True


def test_the_next_logged_line_says_how_many_were_left_out(connect_as, caplog, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(instrument, "_log_budget", instrument.MemoryLimiter(lambda: now[0]))
    alice = connect_as("alice")
    with caplog.at_level(logging.INFO, logger="chat.events"):
        for _ in range(instrument.ERROR_LOG_BURST + 7):
            alice.emit("read", {"with": 5})
        now[0] += 1 / instrument.ERROR_LOG_RATE  # one line's worth of budget
        alice.emit("read", {"with": 5})
    lines = _error_ack_lines(caplog, alice.user_id)
    assert len(lines) == instrument.ERROR_LOG_BURST + 1
    assert lines[-1].detail == "7 earlier error acks not logged"
