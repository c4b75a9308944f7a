// Fills the server-rendered row markup (templates/rows.html, cloned from <template>
// elements) with live data: a user row and a message. Nothing here writes markup itself.

import { cloneTemplate, setAttr, setText } from "./dom.js";
import { fileFor } from "./filestore.js";
import { displayName, fileSize, formatTime, fullTime, presence } from "./format.js";
import { dropPreviews, isPicture, showPreview } from "./previews.js";
import { me, store } from "./state.js";

/** A new, empty users-list <li> (or search-result <li> when `result`). */
export function newUserRow(result) {
  return cloneTemplate(result ? "search-result-template" : "user-row-template");
}

/** Shows user `u` in the row `li`: name, status, unread badge, accessible name. */
export function fillUserRow(li, u, { selected = false, unread = 0 } = {}) {
  const a = li.querySelector("a.user");
  const status = presence(u);
  setAttr(a, "href", "?with=" + encodeURIComponent(u.userID));
  a.dataset.userId = u.userID;
  setText(a.querySelector(".name"), displayName(u));
  const statusNode = a.querySelector(".status");
  setText(statusNode, status.text);
  statusNode.className = "status " + status.state;
  setAttr(statusNode, "title", status.title || null);
  const badge = a.querySelector(".badge");
  if (badge) {
    setText(badge, unread ? String(unread) : "");
    badge.hidden = !unread;
  }
  // The accessible name starts with the username and spells out status and unread count.
  setAttr(a, "aria-label", displayName(u) + ", " + status.text + (unread ? ", " + unread + " unread" : ""));
  a.classList.toggle("selected", selected);
  setAttr(a, "aria-current", selected ? "page" : null);
  return li;
}

/** A new message <li> for `m` in the conversation with `peer`. */
export function newMessageItem(m, peer) {
  const own = m.from === me.userID;
  const li = cloneTemplate("message-template");
  li.classList.toggle("own", own);
  setText(li.querySelector(".sender"), own ? me.username : peer.username);
  if (!own) {
    li.querySelector(".state").remove();
    li.querySelector(".message-menu").remove();
  }
  return li;
}

// A file still to upload: its name and size; a picture also its preview, read back from
// this device (filestore.js) if its item is still on the page by then.
function newPendingAttachment(a) {
  const li = cloneTemplate("attachment-pending-template");
  setText(li.querySelector(".file-name"), a.name);
  setText(li.querySelector(".file-size"), "(" + fileSize(a.size) + ")");
  if (isPicture(a.type)) {
    const img = li.querySelector("img");
    setAttr(img, "alt", a.alt || a.name);
    fileFor(a.key).then((file) => { if (file && img.isConnected) showPreview(img, file); });
  }
  return li;
}

// One attachment (PROTOCOL.md B10): an image as a lazy thumbnail in a link to the full
// picture (alt text: the sender's, else the file name), anything else as a download link
// named by the file name and size; a file still to upload as newPendingAttachment shows it.
function newAttachment(a) {
  if (a.id === undefined) return newPendingAttachment(a);
  if (a.width) {
    const li = cloneTemplate("attachment-image-template");
    const img = li.querySelector("img");
    setAttr(li.querySelector("a"), "href", a.url);
    setAttr(img, "alt", a.alt || a.name);
    setAttr(img, "width", a.width);
    setAttr(img, "height", a.height);
    setAttr(img, "src", a.url + "?thumb=1");
    return li;
  }
  const li = cloneTemplate("attachment-file-template");
  setAttr(li.querySelector("a"), "href", a.url);
  setText(li.querySelector(".file-name"), a.name);
  setText(li.querySelector(".file-size"), "(" + fileSize(a.size) + ")");
  return li;
}

// Attachments never change once sent: the list is built once per message item (again
// when a queued file is uploaded).
function fillAttachments(li, m) {
  const list = li.querySelector(".attachments");
  const wanted = (m.attachments || []).map((a) => (a.id !== undefined ? a.id : a.key)).join(" ");
  if ((list.dataset.ids || "") === wanted) return;
  list.dataset.ids = wanted;
  dropPreviews(list);
  list.replaceChildren(...(m.attachments || []).map(newAttachment));
  list.hidden = !wanted;
}

// An attachment-only message's stored content is its files' names (PROTOCOL.md B10), for
// clients that ignore attachments; here the files show themselves, so it is not repeated.
function namesOnly(m) {
  const files = m.attachments || [];
  return files.length > 0 && m.content === files.map((a) => a.name).join(", ");
}

// [state, words] of one's own message: queued, sending, failed, sent or read.
function messageState(peer, m, connected) {
  if (m.id === undefined) {
    if (m.failed) return ["failed", "Not sent: " + m.failed];
    return m.clientId === store.inflight || connected ? ["sending", "Sending…"] : ["queued", "Waiting for connection"];
  }
  if (peer.userID !== me.userID && peer.readUpTo >= m.id) return ["read", "Read"];
  return ["sent", "Sent"];
}

/** Brings the message item `li` up to date: ids, time, content, "edited", and one's own
 * message's state and menu. */
export function fillMessageItem(li, m, peer, { connected, onActionsGone }) {
  const content = li.querySelector(".content");
  const shown = namesOnly(m) ? "" : m.content;
  setText(content, shown);
  content.hidden = !shown;
  fillAttachments(li, m);
  const edited = li.querySelector(".edited");
  edited.hidden = !m.editedAt;
  setAttr(edited, "title", m.editedAt ? "edited " + fullTime(m.editedAt) : null);
  if (m.id !== undefined) {
    li.dataset.id = m.id;
    li.id = "m-" + m.id; // the target of a link to this message (search results, no-JS sends)
  }
  if (m.clientId) li.dataset.clientId = m.clientId;
  const time = li.querySelector("time");
  const iso = m.createdAt || m.queuedAt;
  if (time && iso) {
    setAttr(time, "datetime", iso);
    setText(time, formatTime(iso));
    setAttr(time, "title", fullTime(iso));
  }
  if (m.from !== me.userID) return;
  // Editing and deleting need a stored message (and a connection to ask the server).
  li.querySelector(".message-menu").hidden = m.id === undefined;
  const [state, text] = messageState(peer, m, connected);
  const stateNode = li.querySelector(".state");
  setText(stateNode, text);
  setAttr(stateNode, "data-state", state);
  const actions = li.querySelector(".actions");
  if (state === "failed" && !actions) {
    li.append(cloneTemplate("message-actions-template"));
  } else if (state !== "failed" && actions) {
    const hadFocus = actions.contains(document.activeElement);
    actions.remove();
    if (hadFocus) onActionsGone();
  }
}
