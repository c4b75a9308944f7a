// The page's state, in one store object: who is listed, their conversations, which one is
// open, and how the connection stands. Views read it; handlers change it, then re-render.

import { dropFromOutbox } from "./outbox.js";

const app = document.getElementById("app");

export const me = { userID: app.dataset.userId, username: app.dataset.username };

export const config = {
  usersLimit: Number(app.dataset.usersLimit) || Infinity,
  sendTimeoutMs: 10000,
  editWindowS: Number(app.dataset.editWindow) || 900,
  maxAttachments: Number(app.dataset.maxAttachments), // the server's limit per message
};

export const store = {
  // userID -> peer: {userID, username, connected, lastSeen, messages: Map(id -> message),
  // hasMore, loaded (history fetched), unread, readUpTo (how far they read mine),
  // myReadUpTo, typingUntil, blocked (this user blocked them), blockedMe (a send to them
  // was refused as blocked)}.
  users: new Map(),
  selected: null, // userID of the open conversation
  linkDown: false, // the connection failed or dropped and is not back yet
  // Others' presence is current. False from a lost connection until the next `users` list:
  // what the page last knew may have changed meanwhile.
  statusKnown: true,
  inflight: null, // clientId of the message awaiting its ack
};

/** The open conversation's peer, or null. */
export function current() {
  return store.selected ? store.users.get(store.selected) : null;
}

/** Applies an edit (`message edited`, or an edit's ack) to a stored message; true if known. */
export function applyEdit(e) {
  const peer = store.users.get(peerOf(e));
  const m = peer && peer.messages.get(e.id);
  if (!m) return false;
  peer.messages.set(e.id, Object.assign({}, m, { content: e.content, editedAt: e.editedAt }));
  return true;
}

/** Forgets a deleted message (`message deleted`, or a delete's ack); true if it was known. */
export function applyDelete(e) {
  const peer = store.users.get(peerOf(e));
  const m = peer && peer.messages.get(e.id);
  if (!m) return false;
  peer.messages.delete(e.id);
  if (m.from === peer.userID && m.from !== me.userID && m.id > peer.myReadUpTo) {
    peer.unread = Math.max(0, (peer.unread || 0) - 1); // it no longer counts as unread (B7)
  }
  return true;
}

/** The other party of a message, seen from this user. */
export function peerOf(m) {
  return m.from === me.userID ? m.to : m.from;
}

/** Merges a users entry (or part of one) into the store; returns the peer. */
export function upsertUser(u, loaded) {
  let peer = store.users.get(u.userID);
  if (!peer) {
    peer = { userID: u.userID, messages: new Map(), hasMore: false, loaded: false, unread: 0, readUpTo: 0, myReadUpTo: 0, typingUntil: 0 };
    store.users.set(u.userID, peer);
  }
  if (u.username) peer.username = u.username;
  if ("connected" in u) peer.connected = !!u.connected;
  if ("lastSeen" in u) peer.lastSeen = u.lastSeen;
  else if (u.connected) peer.lastSeen = null;
  if (typeof u.unread === "number") peer.unread = u.unread;
  if (typeof u.blocked === "boolean") peer.blocked = u.blocked;
  if (typeof u.readUpTo === "number") peer.readUpTo = Math.max(peer.readUpTo, u.readUpTo);
  const hadHistory = peer.loaded;
  for (const m of u.messages || []) addMessage(peer, m);
  if (loaded && !hadHistory) {
    peer.loaded = true;
    peer.hasMore = !!u.hasMore;
  }
  if (peer.unread === 0) peer.myReadUpTo = Math.max(peer.myReadUpTo, newestFrom(peer, peer.userID));
  return peer;
}

/** Adds a stored message once (merged by id); true when it was new. */
export function addMessage(peer, m) {
  if (typeof m.id !== "number") return false;
  const fresh = !peer.messages.has(m.id);
  if (fresh) peer.messages.set(m.id, m);
  if (m.clientId && m.from === me.userID) dropFromOutbox(m.clientId);
  return fresh;
}

/** The id of the newest message `userID` sent in this conversation, or 0. */
export function newestFrom(peer, userID) {
  let newest = 0;
  for (const m of peer.messages.values()) if (m.from === userID && m.id > newest) newest = m.id;
  return newest;
}

/** The id of the conversation's newest known message, or 0. */
export function newestId(peer) {
  let n = 0;
  for (const id of peer.messages.keys()) if (id > n) n = id;
  return n;
}

/** The id of the conversation's oldest known message, or undefined. */
export function oldestId(peer) {
  let n = Infinity;
  for (const id of peer.messages.keys()) if (id < n) n = id;
  return n === Infinity ? undefined : n;
}
