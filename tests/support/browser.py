"""Driving the chat in Chromium: the browser's options, a person with tabs, the page's parts."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from deploy.launch import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
# A small history page makes paging and catch-up visible with a few dozen messages.
HISTORY_PAGE = 20
_names = itertools.count(1)

# Two cores shared with other work: give auto-waiting assertions room.
expect.set_options(timeout=15_000)


def unique(base: str) -> str:
    """A username nobody in this server has taken yet."""
    return f"{base}{next(_names)}"


class Person:
    """One person: a browser context (cookies, localStorage) and its tabs."""

    def __init__(self, context: BrowserContext, url: str, label: str):
        self.context = context
        self.url = url
        self.label = label
        self.page = context.new_page()
        self.username = ""
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.watch(self.page)

    def watch(self, page: Page) -> Page:
        """Records dialogs and script errors of ``page``."""
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        # The page must work under its CSP (no inline script or style): any refusal fails.
        page.on(
            "console",
            lambda m: self.errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        return page

    def new_tab(self) -> Page:
        """Another tab of the same person, on the chat."""
        page = self.watch(self.context.new_page())
        page.goto(self.url)
        connected(page)
        return page

    def login(self, name: str, password: str = "", page: Page | None = None) -> Person:
        """Logs in through the form and waits for the live connection."""
        page = page or self.page
        self.username = name
        page.goto(self.url)
        page.get_by_label("Username").fill(name)
        if password:
            page.get_by_label("Password (optional)").fill(password)
        page.get_by_role("button", name="Start chatting").click()
        expect(user_link(page, name)).to_be_visible()
        connected(page)
        return self

    def open_chat(self, name: str, page: Page | None = None) -> Page:
        """Clicks ``name`` in the users list."""
        page = page or self.page
        user_link(page, name).click()
        expect(page.get_by_role("heading", level=2, name=name)).to_be_visible()
        return page

    def user_id(self, page: Page | None = None) -> str:
        """This person's userID, as the chat page knows it."""
        return (page or self.page).locator("#app").get_attribute("data-user-id")

    def send(self, text: str, page: Page | None = None) -> None:
        """Types ``text`` into the composer and presses Enter."""
        page = page or self.page
        box = page.get_by_label("Message", exact=True)
        box.fill(text)
        box.press("Enter")
        expect(box).to_have_value("")


# The page's Socket.IO connection, not the client script.
SOCKET_URL = re.compile(r"/socket\.io/\?")


def conversation(people, both: bool = True) -> tuple[Person, Person]:
    """alice and bob, two new users, with alice's chat with bob open (and bob's with her)."""
    alice = people("alice").login(unique("alice"))
    bob = people("bob").login(unique("bob"))
    alice.open_chat(bob.username)
    if both:
        bob.open_chat(alice.username)
    return alice, bob


def reconnect_through(alice: Person, bob: Person, handler) -> None:
    """Reloads alice's page with its WebSocket routed through ``handler`` (playwright's
    ``route_web_socket``), and opens alice's and bob's conversation on both pages."""
    alice.page.route_web_socket(SOCKET_URL, handler)
    alice.page.reload()
    connected(alice.page)
    alice.open_chat(bob.username)
    bob.open_chat(alice.username)
    expect(alice.page.locator("#app")).to_have_attribute("data-transport", "websocket")


class Uplink:
    """The upload speed of one tab, limited as a slow network would (Chromium's DevTools)."""

    def __init__(self, page: Page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")

    def limit(self, bytes_per_s: int) -> None:
        """At most ``bytes_per_s`` upwards; -1 for no limit."""
        conditions = {"offline": False, "latency": 0, "downloadThroughput": -1}
        conditions["uploadThroughput"] = bytes_per_s
        self.cdp.send("Network.emulateNetworkConditions", conditions)


def connected(page: Page) -> None:
    """Waits until the page's Socket.IO connection is up (the first paint comes before)."""
    expect(page.locator("#app")).to_have_attribute("data-connection", "online")


def user_link(page: Page, name: str):
    """The users-list entry whose accessible name starts with ``name``."""
    return page.locator("#user-list").get_by_role(
        "link", name=re.compile("^" + re.escape(name) + "( \\(you\\))?,")
    )


def messages(page: Page):
    """The message items of the open conversation."""
    return page.get_by_role("log").locator("li.message")


def message(page: Page, text: str):
    """The one message whose content is exactly ``text``."""
    return messages(page).filter(has=page.locator("p.content").get_by_text(text, exact=True))


def shot(page: Page, name: str) -> Path:
    """Saves a screenshot under test-artifacts/ and returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
