"""Rebuilds docs/screenshot-*.png: ``.venv/bin/python -m tests.e2e.screenshots``."""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from deploy.launch import ROOT, Server
from tests.support.browser import ARGS, CHROMIUM, Person, connected, message
from tests.support.databases import migrated
from tests.support.peer import Peer

DOCS = ROOT / "docs"


def main() -> None:
    """Plays a short conversation on a fresh server and photographs it."""
    env = {"DATABASE_URL": f"sqlite:///{Path(tempfile.mkdtemp()) / 'chat.db'}", "REDIS_URL": ""}
    migrated(env)
    server = Server(env).start()
    try:
        for name in ("grace", "linus"):  # people who were here earlier
            Peer(server.url, transports=["websocket"], username=name).close()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            desk = {"viewport": {"width": 1100, "height": 640}}
            carol = Person(browser.new_context(), server.url, "carol").login("carol")
            alice = Person(browser.new_context(**desk), server.url, "alice").login("alice")
            bob = Person(browser.new_context(), server.url, "bob").login("bob")
            carol.open_chat("alice")
            carol.send("Lunch at 12:30?")
            carol.send("The usual place 🙂")
            alice.open_chat("bob")
            bob.open_chat("alice")
            bob.send("Hi Alice! Did you get the slides?")
            alice.send("Yes, thanks! Reviewing them now.")
            bob.send("Great. Slide 7 still needs the new numbers.")
            last = "I'll fix that and send them back\nbefore the meeting."
            alice.send(last)
            expect(message(alice.page, last).locator(".state")).to_have_text("Read")
            alice.send("Also: <b>bold</b> stays plain text here.")
            bob.page.reload()
            connected(bob.page)
            bob.page.get_by_label("Message", exact=True).press_sequentially("Perf")
            expect(alice.page.locator("#typing")).to_have_text("bob is typing…")
            alice.page.screenshot(path=str(DOCS / "screenshot-chat.png"))

            phone = {
                "viewport": {"width": 390, "height": 700},
                "color_scheme": "dark",
                "is_mobile": True,
                "has_touch": True,
            }
            dan = Person(browser.new_context(**phone), server.url, "dan").login("dan")
            dan.open_chat("carol")
            carol.open_chat("dan")
            carol.send("Are you on the train?")
            dan.send("Yes, signal comes and goes")
            expect(message(dan.page, "Yes, signal comes and goes").locator(".state")).to_have_text(
                "Read"
            )
            dan.context.set_offline(True)
            expect(dan.page.locator("#banner")).to_contain_text("Connection lost")
            dan.send("This waits in the outbox until the train leaves the tunnel")
            dan.page.screenshot(path=str(DOCS / "screenshot-features.png"))
            browser.close()
    finally:
        server.kill()


if __name__ == "__main__":
    main()
