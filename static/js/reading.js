// Read state: marking a conversation read, and `read` events (one's own other tabs, or the
// peer's receipts turning ticks to "Read").

import { socket } from "./socket.js";
import { me, newestFrom, store } from "./state.js";
import { renderAll } from "./render.js";

/** Marks `peer`'s conversation read up to their newest message, if this tab is visible. */
export function markRead(peer) {
  if (!peer || peer.userID === me.userID || document.visibilityState !== "visible") return;
  const upTo = newestFrom(peer, peer.userID);
  if (peer.unread === 0 && upTo <= peer.myReadUpTo) return;
  peer.unread = 0;
  if (!upTo || !socket.connected) return;
  peer.myReadUpTo = Math.max(peer.myReadUpTo, upTo);
  socket.emit("read", { with: peer.userID, upTo: upTo });
}

/** Follows `read` events: unread badges and "Read" ticks. */
export function wireReading() {
  socket.on("read", ({ by, with: other, upTo }) => {
    if (by === me.userID) {
      // This user read (in some tab): unread badges follow everywhere.
      const peer = store.users.get(other);
      if (!peer) return;
      peer.myReadUpTo = Math.max(peer.myReadUpTo, upTo);
      peer.unread = [...peer.messages.values()].filter((m) => m.from === other && m.id > peer.myReadUpTo).length;
    } else {
      // The peer read our messages: ticks turn to "Read".
      const peer = store.users.get(by);
      if (!peer) return;
      peer.readUpTo = Math.max(peer.readUpTo, upTo);
    }
    renderAll();
  });
}
