// The open conversation: heading, peer status, stored and queued messages, the empty hint.
// Updated in place (keyed by message id, or clientId while queued) so that focus, scroll
// position and the live region survive.

import { renderBlocking } from "./blocking.js";
import { els, reconcile, setAttr, setText } from "./dom.js";
import { displayName, presence } from "./format.js";
import { pendingFor } from "./outbox.js";
import { dropPreviews } from "./previews.js";
import { fillMessageItem, newMessageItem } from "./rows.js";
import { socket } from "./socket.js";
import { current, me } from "./state.js";
import { renderTyping } from "./typing.js";

let items = new Map(); // "id:<id>" or "c:<clientId>" -> <li>
let renderedPeer = null;

/** Takes over the server-rendered messages of the conversation opened by the first paint. */
export function adoptMessages(peerId) {
  renderedPeer = peerId;
  for (const li of els.messages.children) if (li.dataset.id) items.set("id:" + li.dataset.id, li);
}

/** The open peer's status line ("online", "last seen 5 minutes ago", …). */
export function renderPeerStatus() {
  const peer = current();
  const status = peer && peer.userID !== me.userID ? presence(peer) : null;
  setText(els.peerStatus, !peer ? "" : status ? status.text : "notes to yourself");
  setAttr(els.peerStatus, "title", (status && status.title) || null);
  els.peerStatus.classList.toggle("unknown", !!status && status.state === "unknown");
}

function conversationItems(peer) {
  const stored = [...peer.messages.values()].sort((a, b) => a.id - b.id);
  const known = new Set(stored.map((m) => m.clientId).filter(Boolean));
  const pending = pendingFor(peer.userID).filter((p) => !known.has(p.clientId));
  return stored.concat(pending);
}

function showNobody() {
  setText(els.heading, "Pick someone to chat with");
  renderPeerStatus();
  els.older.hidden = true;
  dropPreviews(els.messages);
  reconcile(els.messages, []);
  items = new Map();
  renderedPeer = null;
  els.empty.hidden = false;
  setText(els.empty, "Pick someone from the list to see your conversation.");
  renderTyping();
}

// A fresh log region: screen readers announce what is added to a live region, and a whole
// history appearing at once is not news. A new region's content is not announced.
function replaceLog(nodes) {
  const log = els.log.cloneNode(false);
  const list = els.messages.cloneNode(false);
  list.append(...nodes);
  log.append(list);
  els.log.replaceWith(log);
  els.log = log;
  els.messages = list;
}

/**
 * Redraws the open conversation. how: "switch" (new conversation: to the bottom), "older"
 * (keep the view still), "bottom", or undefined (follow new messages only if the reader is
 * already at the bottom).
 */
export function renderConversation(how) {
  const peer = current();
  document.body.classList.toggle("has-peer", !!peer);
  els.composer.hidden = !peer;
  // The forms' peer fields follow the open conversation (they post without the script).
  if (els.settingsPeer) els.settingsPeer.value = peer ? peer.userID : "";
  if (els.composerTo) els.composerTo.value = peer ? peer.userID : "";
  renderBlocking();
  if (!peer) return showNobody();
  const box = els.scroller;
  const switching = renderedPeer !== peer.userID;
  if (switching) {
    how = "switch";
    dropPreviews(els.messages);
    items = new Map();
    renderedPeer = peer.userID;
  }
  const fromBottom = box.scrollHeight - box.scrollTop;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  setText(els.heading, displayName(peer));
  renderPeerStatus();
  els.older.hidden = !peer.hasMore;
  const list = conversationItems(peer);
  const next = new Map();
  const fill = { connected: socket.connected, onActionsGone: () => els.input.focus() };
  const nodes = list.map((m) => {
    const key = m.id !== undefined ? "id:" + m.id : "c:" + m.clientId;
    // A pending message keeps its node when its ack turns it into a stored one.
    const li = items.get(key) || (m.clientId && items.get("c:" + m.clientId)) || newMessageItem(m, peer);
    fillMessageItem(li, m, peer, fill);
    next.set(key, li);
    if (m.clientId) next.set("c:" + m.clientId, li);
    return li;
  });
  if (switching) replaceLog(nodes);
  else reconcile(els.messages, nodes);
  // A queued message that left the page (sent elsewhere, discarded) lets go of its previews.
  const kept = new Set(next.values());
  for (const li of items.values()) if (!kept.has(li)) dropPreviews(li);
  items = next;
  els.empty.hidden = list.length > 0;
  setText(els.empty, "No messages yet. Say hello!");
  if (how === "older") box.scrollTop = box.scrollHeight - fromBottom;
  else if (how === "switch" || how === "bottom" || atBottom) box.scrollTop = box.scrollHeight;
  renderTyping();
}
