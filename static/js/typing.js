// "… is typing": sent at most every few seconds while one types, shown for a while per peer.

import { els, setText } from "./dom.js";
import { socket } from "./socket.js";
import { current, me, store } from "./state.js";

const TYPING_EVERY_MS = 3000; // at most one "typing" event per 3 s
const TYPING_SHOWN_MS = 5000; // a peer's indicator clears after this long without news

let lastSent = 0;
let clearTimer = null;

/** Shows or clears the open peer's typing indicator. */
export function renderTyping() {
  const peer = current();
  const typing = peer && peer.typingUntil > Date.now();
  setText(els.typing, typing ? peer.username + " is typing…" : "");
}

/** Lets the next keystroke announce typing again (after a message went out). */
export function resetTyping() {
  lastSent = 0;
}

/** Sends `typing` from the composer and shows peers' `typing` events. */
export function wireTyping() {
  els.input.addEventListener("input", () => {
    const now = Date.now();
    if (!store.selected || store.selected === me.userID || !els.input.value.trim() || !socket.connected) return;
    if (now - lastSent < TYPING_EVERY_MS) return;
    lastSent = now;
    socket.emit("typing", { to: store.selected });
  });
  socket.on("typing", ({ from }) => {
    const peer = store.users.get(from);
    if (!peer) return;
    peer.typingUntil = Date.now() + TYPING_SHOWN_MS;
    renderTyping();
    clearTimeout(clearTimer);
    clearTimer = setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
  });
}
