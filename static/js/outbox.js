// Messages not yet acknowledged, in localStorage so that they survive a reload. Every change
// reads, modifies and writes the stored list, so that tabs sharing it do not overwrite each
// other's entries. A message's `attachments` are uploaded entries (with an `id`, PROTOCOL.md
// B10) or files still to upload ({key, name, type, size, alt}); either way the File is in
// filestore.js under `key` until the message is sent or discarded.

const me = document.getElementById("app").dataset.userId;
const keyOf = (userID) => "chat-outbox:" + userID;

/** The localStorage key of this user's outbox (other tabs watch it). */
export const OUTBOX_KEY = keyOf(me);

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

/** The file keys (filestore.js) of `userID`'s queued messages, uploaded or not. */
export function queuedFileKeys(userID) {
  let list = [];
  try { list = JSON.parse(localStorage.getItem(keyOf(userID))) || []; } catch (e) { /* none readable */ }
  if (userID === me) list = outbox();
  const keys = new Set();
  for (const p of Array.isArray(list) ? list : []) {
    for (const a of p.attachments || []) if (a.key) keys.add(a.key);
  }
  return keys;
}
