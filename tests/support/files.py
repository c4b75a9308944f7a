"""Files for the browser tests of attachments: pictures made here, and choosing and sending them."""

from __future__ import annotations

import io
import re
import sqlite3

from PIL import Image
from playwright.sync_api import Page, expect


def png(width: int, height: int) -> bytes:
    """A small PNG made here, so the test needs no fixture file."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(out, format="PNG")
    return out.getvalue()


# What the page says when a cancelled upload gave its message's text back to the draft.
TEXT_BACK = "Upload cancelled. Its text is back in the draft."


def choose(page: Page, name: str, mime: str, data: bytes) -> None:
    """Chooses the file by the attach button and sees it among the files to send."""
    page.get_by_label("Attach a file").set_input_files(
        {"name": name, "mimeType": mime, "buffer": data}
    )
    expect(page.get_by_role("list", name="Files to send")).to_contain_text(name)


def waiting(page: Page):
    """The list of files waiting beside the composer."""
    return page.get_by_role("list", name="Files to send")


# Whether every text is in a file listed as stored (no `state`) on the device (drafts.js).
KEPT = """([key, texts]) => {
  const listed = Object.values(JSON.parse(localStorage.getItem(key) || "{}")).flat();
  return texts.every((t) => listed.some((f) => !f.state && JSON.stringify(f).includes(t)));
}"""


def kept(page: Page, *texts: str) -> None:
    """Waits until the waiting files' list on the device (drafts.js) holds ``texts`` as
    stored; a file is listed at once, and stored once IndexedDB holds it a moment later."""
    key = "chat-draft-files:" + page.locator("#app").get_attribute("data-user-id")
    page.wait_for_function(KEPT, arg=[key, list(texts)])


def loaded(page: Page, img) -> str:
    """Waits until ``img`` shows its picture from the device; returns its blob: URL."""
    expect(img).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function("(i) => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    return img.get_attribute("src")


def press_send(page: Page) -> None:
    """Presses Send and sees the chosen files leave the composer."""
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("list", name="Files to send")).to_be_hidden()


def attach_and_send(page: Page, name: str, mime: str, data: bytes) -> None:
    """Chooses the file by the attach button and presses Send."""
    choose(page, name, mime, data)
    press_send(page)


FILES_ON_DEVICE = """() => new Promise((resolve) => {
  const req = indexedDB.open("chat-files");
  req.onsuccess = () => {
    const count = req.result.transaction("files").objectStore("files").count();
    count.onsuccess = () => resolve(count.result);
  };
})"""


def files_on_device(page: Page) -> int:
    """How many files the page keeps in IndexedDB (waiting beside the composer or queued)."""
    return page.evaluate(FILES_ON_DEVICE)


def stored_counts(db_path, sender_id: str) -> tuple[int, int]:
    """How many messages and attachments the server's database holds from ``sender_id``."""
    with sqlite3.connect(db_path) as db:
        messages = db.execute("SELECT count(*) FROM messages WHERE sender_id = ?", (sender_id,))
        files = db.execute("SELECT count(*) FROM attachments WHERE uploader_id = ?", (sender_id,))
        return messages.fetchone()[0], files.fetchone()[0]


# The page's IndexedDB writes (filestore.js) wait until `releaseStores()`: each readwrite
# transaction is recorded, not opened, and replayed, with its handlers, on release. A page
# reloaded meanwhile never wrote them, as if it went away before IndexedDB finished.
HOLD_STORES = """() => {
  const real = IDBDatabase.prototype.transaction;
  const held = [];
  window.releaseStores = () => {
    IDBDatabase.prototype.transaction = real;
    for (const replay of held.splice(0)) replay();
  };
  IDBDatabase.prototype.transaction = function (names, mode) {
    if (mode !== "readwrite") return real.apply(this, arguments);
    const ops = [];
    const record = (op) => (...args) => { ops.push([op, args]); };
    const tx = { objectStore: () => ({ put: record("put"), delete: record("delete") }) };
    held.push(() => {
      const done = real.call(this, names, mode);
      for (const [op, args] of ops) done.objectStore(names)[op](...args);
      for (const handler of ["oncomplete", "onerror", "onabort"]) done[handler] = tx[handler];
    });
    return tx;
  };
}"""


def hold_stores(page: Page) -> None:
    """Holds ``page``'s IndexedDB writes until ``release_stores`` (or a reload)."""
    page.evaluate(HOLD_STORES)


def release_stores(page: Page) -> None:
    """Lets ``page``'s held IndexedDB writes happen, and those after them."""
    page.evaluate("releaseStores()")
