// Messages not yet acknowledged, in localStorage so that they survive a reload. Every change
// reads, modifies and writes the stored list, so that tabs sharing it do not overwrite each
// other's entries.

const userID = document.getElementById("app").dataset.userId;

/** The localStorage key of this user's outbox (other tabs watch it). */
export const OUTBOX_KEY = "chat-outbox:" + userID;

let memoryOutbox = []; // used only when localStorage is unavailable

/** The queued messages, oldest first. */
export function outbox() {
  try {
    const raw = JSON.parse(localStorage.getItem(OUTBOX_KEY));
    return Array.isArray(raw) ? raw : [];
  } catch (e) {
    return memoryOutbox.slice();
  }
}

/** Replaces the whole outbox. */
export function saveOutbox(list) {
  memoryOutbox = list;
  try {
    if (list.length) localStorage.setItem(OUTBOX_KEY, JSON.stringify(list));
    else localStorage.removeItem(OUTBOX_KEY);
  } catch (e) { /* storage disabled or full: the in-memory copy still sends */ }
}

/** Applies `fn` (list -> list) to the stored outbox. */
export function changeOutbox(fn) {
  saveOutbox(fn(outbox()));
}

/** Forgets one queued message. */
export function dropFromOutbox(clientId) {
  changeOutbox((list) => list.filter((p) => p.clientId !== clientId));
}

/** Changes the fields of one queued message. */
export function patchQueued(clientId, fields) {
  changeOutbox((list) => list.map((p) => (p.clientId === clientId ? Object.assign({}, p, fields) : p)));
}

/** The queued messages to `peerId`, oldest first. */
export function pendingFor(peerId) {
  return outbox().filter((p) => p.to === peerId);
}

/** A new idempotency key for a message (PROTOCOL.md B2). */
export function newClientId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}
