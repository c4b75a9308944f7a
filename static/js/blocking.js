// Blocking (PROTOCOL.md B8): the header's Block / Unblock, the plain note and the disabled
// composer of a blocked conversation, and the list of blocked people in Settings.

import { cloneTemplate, els, setText } from "./dom.js";
import { socket } from "./socket.js";
import { config, current, me, store } from "./state.js";

let rerender = () => {};

function setBlocked(peer, blocked) {
  if (!socket.connected) { setText(els.blockNote, "Blocking needs the connection; it is not back yet."); els.blockNote.hidden = false; return; }
  socket.timeout(config.sendTimeoutMs).emit(blocked ? "block" : "unblock", { userID: peer.userID }, (err, ack) => {
    if (err || !ack || !ack.ok) return;
    peer.blocked = ack.blocked;
    if (!ack.blocked) peer.blockedMe = false; // try again: the other side may have unblocked too
    rerender();
  });
}

/** The header button, the note and the composer of the open conversation; the Settings list. */
export function renderBlocking() {
  const peer = current();
  const other = peer && peer.userID !== me.userID ? peer : null;
  els.blockButton.hidden = !other;
  setText(els.blockButton, other && other.blocked ? "Unblock" : "Block");
  let note = "";
  if (other && other.blocked) note = "You blocked " + other.username + ". Neither of you can write to the other until you unblock them.";
  else if (other && other.blockedMe) note = other.username + " is not accepting messages from you.";
  setText(els.blockNote, note);
  els.blockNote.hidden = !note;
  els.input.disabled = !!note;
  els.send.disabled = !!note;
  const blocked = [...store.users.values()].filter((u) => u.blocked).sort((a, b) => (a.username < b.username ? -1 : 1));
  els.blockedSetting.hidden = !blocked.length;
  els.blockedList.replaceChildren(...blocked.map((u) => {
    const li = cloneTemplate("blocked-row-template");
    setText(li.querySelector(".name"), u.username);
    const button = li.querySelector(".unblock");
    button.dataset.userId = u.userID;
    button.setAttribute("aria-label", "Unblock " + u.username);
    return li;
  }));
}

/** Wires Block / Unblock in the header and in Settings; `render` redraws the page. */
export function wireBlocking(render) {
  rerender = render;
  els.blockButton.addEventListener("click", () => {
    const peer = current();
    if (peer) setBlocked(peer, !peer.blocked);
  });
  els.blockedList.addEventListener("click", (ev) => {
    const button = ev.target.closest("button.unblock");
    const peer = button && store.users.get(button.dataset.userId);
    if (peer) setBlocked(peer, false);
  });
}
