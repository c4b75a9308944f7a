// Editing and deleting one's own messages (PROTOCOL.md B7): the message menu, Up in an
// empty composer to edit the last one, Esc to cancel, the confirmation before deleting,
// and the other tabs' and the peer's `message edited` / `message deleted`.

import { els, setText } from "./dom.js";
import { renderConversation } from "./conversation.js";
import { renderUsers } from "./users-list.js";
import { socket } from "./socket.js";
import { applyDelete, applyEdit, config, current, me, store } from "./state.js";

const NOTE = "Editing your message. Enter saves, Esc cancels.";
let editing = null; // {peerId, id, draft}: the message being edited, and the draft it hides

/** True while the composer holds an edit rather than a new message. */
export function isEditing() {
  return editing !== null;
}

function startEdit(id) {
  const peer = current();
  const m = peer && peer.messages.get(id);
  if (!m || m.from !== me.userID) return;
  if (!editing) editing = { peerId: peer.userID, id, draft: els.input.value };
  else editing.id = id;
  els.input.value = m.content;
  els.editingNote.hidden = false;
  setText(els.editingNote, NOTE);
  els.composer.classList.add("editing");
  setText(els.send, "Save");
  els.input.focus();
  els.input.setSelectionRange(m.content.length, m.content.length);
}

/** Makes `text` the draft that an edit in progress in `peerId`'s conversation hides (and
 * gives back when it ends); nothing when no edit is in progress there. */
export function hideDraft(peerId, text) {
  if (editing && editing.peerId === peerId) editing.draft = text;
}

/** Leaves editing: the composer gets its draft back. */
export function cancelEdit() {
  if (!editing) return;
  els.input.value = editing.draft;
  editing = null;
  els.editingNote.hidden = true;
  els.composer.classList.remove("editing");
  setText(els.send, "Send");
}

/** Sends the edit the composer holds; on success the composer returns to its draft. */
export function submitEdit() {
  const { id } = editing;
  const content = els.input.value;
  if (!content.trim()) { setText(els.editingNote, "An edited message cannot be empty: delete it instead. Esc cancels."); return; }
  if (!socket.connected) { setText(els.editingNote, "Not saved: the connection is not back yet. Esc cancels."); return; }
  socket.timeout(config.sendTimeoutMs).emit("edit message", { id, content }, (err, ack) => {
    if (!editing || editing.id !== id) return;
    if (err || !ack || !ack.ok) {
      const why = err ? "the server did not answer" : ack.error === "too_late" ? "messages can only be edited for " + Math.round(config.editWindowS / 60) + " minutes" : (ack && ack.detail) || "refused";
      setText(els.editingNote, "Not saved: " + why + ". Esc cancels.");
      return;
    }
    applyEdit(ack.message);
    cancelEdit();
    renderConversation();
    els.input.focus();
  });
}

function confirmDelete(id) {
  const dialog = els.deleteDialog;
  dialog.returnValue = "";
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "delete") deleteMessage(id);
    els.input.focus();
  }, { once: true });
  dialog.showModal();
}

function deleteMessage(id) {
  socket.timeout(config.sendTimeoutMs).emit("delete message", { id }, (err, ack) => {
    const peer = current();
    if (err || !ack || !ack.ok) return; // the message stays, so one can try again
    const m = peer && peer.messages.get(id);
    if (m) applyDelete(m);
    if (editing && editing.id === id) cancelEdit();
    renderConversation();
  });
}

// --- the menu of a message -------------------------------------------------------------

function closeMenu(menuBox, focusButton) {
  const button = menuBox.querySelector(".menu-button");
  menuBox.querySelector(".menu").hidden = true;
  button.setAttribute("aria-expanded", "false");
  if (focusButton) button.focus();
}

function openMenu(menuBox) {
  for (const other of document.querySelectorAll(".message-menu .menu:not([hidden])")) closeMenu(other.parentElement, false);
  menuBox.querySelector(".menu").hidden = false;
  menuBox.querySelector(".menu-button").setAttribute("aria-expanded", "true");
  menuBox.querySelector("[role=menuitem]").focus();
}

function wireMenus() {
  els.scroller.addEventListener("click", (ev) => {
    const box = ev.target.closest(".message-menu");
    if (!box) return;
    const li = box.closest("li.message");
    if (ev.target.closest(".menu-button")) {
      if (box.querySelector(".menu").hidden) openMenu(box);
      else closeMenu(box, true);
      return;
    }
    const item = ev.target.closest("[role=menuitem]");
    if (!item || !li.dataset.id) return;
    closeMenu(box, false);
    const id = Number(li.dataset.id);
    if (item.classList.contains("edit")) startEdit(id);
    else confirmDelete(id);
  });
  els.scroller.addEventListener("keydown", (ev) => {
    const box = ev.target.closest(".message-menu");
    if (!box || box.querySelector(".menu").hidden) return;
    const items = [...box.querySelectorAll("[role=menuitem]")];
    const i = items.indexOf(document.activeElement);
    if (ev.key === "Escape") { ev.preventDefault(); closeMenu(box, true); }
    else if (ev.key === "Tab") closeMenu(box, false);
    else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const step = ev.key === "ArrowDown" ? 1 : items.length - 1;
      items[(i + step) % items.length].focus();
    } else if (ev.key === "Home" || ev.key === "End") {
      ev.preventDefault();
      items[ev.key === "Home" ? 0 : items.length - 1].focus();
    }
  });
  document.addEventListener("click", (ev) => {
    for (const open of document.querySelectorAll(".message-menu .menu:not([hidden])")) {
      if (!open.parentElement.contains(ev.target)) closeMenu(open.parentElement, false);
    }
  });
}

function lastOwnId(peer) {
  let last = 0;
  for (const m of peer.messages.values()) if (m.from === me.userID && m.id > last) last = m.id;
  return last;
}

/** The menu, the composer's Up and Esc, and the edits and deletions of other tabs. */
export function wireEditing() {
  wireMenus();
  els.input.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && editing) { ev.preventDefault(); cancelEdit(); return; }
    if (ev.key === "ArrowUp" && !els.input.value && !editing && !ev.shiftKey) {
      const peer = current();
      const id = peer && lastOwnId(peer);
      if (id) { ev.preventDefault(); startEdit(id); }
    }
  });
  socket.on("message edited", (e) => {
    if (applyEdit(e)) renderConversation();
  });
  socket.on("message deleted", (e) => {
    if (editing && editing.id === e.id) cancelEdit();
    if (applyDelete(e)) { renderUsers(); renderConversation(); }
  });
}

/** The conversation changed under the composer: an edit in progress is abandoned. */
export function leaveEdit() {
  if (editing && editing.peerId !== store.selected) cancelEdit();
}
