// Conversation history over `fetch messages`: the newest page of a conversation opened by
// hand, older pages on scrolling up, and the catch-up after a reconnect.

import { els, setText } from "./dom.js";
import { renderConversation } from "./conversation.js";
import { markRead } from "./reading.js";
import { renderAll } from "./render.js";
import { socket } from "./socket.js";
import { addMessage, config, current, oldestId } from "./state.js";

let loadingOlder = false;

/** One page of `peer`'s conversation before id `before` (newest when undefined), or null. */
function fetchPage(peer, before, limit) {
  return new Promise((resolve) => {
    if (!socket.connected) { resolve(null); return; }
    const req = { with: peer.userID };
    if (before !== undefined) req.before = before;
    if (limit) req.limit = limit;
    socket.timeout(config.sendTimeoutMs).emit("fetch messages", req, (err, ack) => {
      if (!err && ack && !ack.ok && ack.error === "rate_limited") {
        setTimeout(() => fetchPage(peer, before, limit).then(resolve), ack.retryAfterMs || 500);
        return;
      }
      resolve(err || !ack || !ack.ok ? null : ack);
    });
  });
}

/**
 * Fetches pages backwards from `before` (newest when undefined) until reaching `knownId`,
 * so that every message after `knownId` is present once, whatever the gap's size.
 */
export async function catchUp(peer, knownId, before) {
  for (let guard = 0; guard < 100; guard++) {
    const ack = await fetchPage(peer, before, 100);
    if (!ack) return;
    for (const m of ack.messages) addMessage(peer, m);
    if (!ack.hasMore || !ack.messages.length || ack.messages[0].id <= knownId) return;
    before = ack.messages[0].id;
  }
}

/** Gives a conversation added by hand (search, first message) its newest page. */
export async function loadLatest(peer) {
  const ack = await fetchPage(peer, undefined);
  if (!ack) return;
  for (const m of ack.messages) addMessage(peer, m);
  peer.loaded = true;
  peer.hasMore = ack.hasMore;
  markRead(current());
  renderAll();
}

async function loadOlder() {
  const peer = current();
  if (!peer || !peer.hasMore || loadingOlder) return;
  loadingOlder = true;
  els.older.setAttribute("aria-disabled", "true");
  setText(els.older, "Loading older messages…");
  const ack = await fetchPage(peer, oldestId(peer));
  loadingOlder = false;
  els.older.removeAttribute("aria-disabled");
  setText(els.older, "Load older messages");
  if (!ack) return;
  for (const m of ack.messages) addMessage(peer, m);
  peer.hasMore = ack.hasMore;
  const hadFocus = document.activeElement === els.older;
  if (current() === peer) renderConversation("older");
  if (hadFocus && els.older.hidden) els.scroller.focus();
}

/** Loads older pages from the button and on scrolling near the top. */
export function wireHistory() {
  els.older.addEventListener("click", loadOlder);
  els.scroller.addEventListener("scroll", () => {
    if (els.scroller.scrollTop < 80 && els.scroller.scrollHeight > els.scroller.clientHeight) loadOlder();
  }, { passive: true });
}

/**
 * Loads `peer`'s history back to message `id` (and a page around it), with no gap between
 * it and what is already shown; resolves when it is there or cannot be found.
 */
export async function loadAround(peer, id) {
  if (!peer) return;
  if (!peer.loaded) await loadLatest(peer);
  for (let guard = 0; guard < 200 && !peer.messages.has(id) && peer.hasMore; guard++) {
    const ack = await fetchPage(peer, oldestId(peer), 100);
    if (!ack) return;
    for (const m of ack.messages) addMessage(peer, m);
    peer.hasMore = ack.hasMore;
    if (!ack.messages.length) return;
  }
}
