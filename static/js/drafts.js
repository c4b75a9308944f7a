// Unsent composer text, per conversation, in localStorage (per user) so that it survives a
// reload and follows the user to another tab.

import { me } from "./state.js";

const DRAFTS_KEY = "chat-drafts:" + me.userID;
let memoryDrafts = {}; // used only when localStorage is unavailable

function read() {
  try {
    const raw = JSON.parse(localStorage.getItem(DRAFTS_KEY));
    return raw && typeof raw === "object" && !Array.isArray(raw) ? raw : {};
  } catch (e) {
    return Object.assign({}, memoryDrafts);
  }
}

function write(all) {
  memoryDrafts = all;
  try {
    if (Object.keys(all).length) localStorage.setItem(DRAFTS_KEY, JSON.stringify(all));
    else localStorage.removeItem(DRAFTS_KEY);
  } catch (e) { /* storage disabled or full: the in-memory copy still holds it */ }
}

/** The draft of the conversation with `peerId` ("" when none). */
export function draftFor(peerId) {
  const text = read()[peerId];
  return typeof text === "string" ? text : "";
}

/** Keeps `text` as the draft of the conversation with `peerId` (forgets it when blank). */
export function saveDraft(peerId, text) {
  const all = read();
  if (text.trim()) all[peerId] = text;
  else delete all[peerId];
  write(all);
}

/** Forgets every draft (logging out). */
export function clearDrafts() {
  write({});
}
