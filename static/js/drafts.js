// Unsent composer work, per conversation, in localStorage (per user) so that it survives a
// reload and follows the user to another tab: the text, and the list of files waiting
// beside it ({key, name, type, size, alt, upload?, state?}: the File itself is in
// filestore.js under `key`; `upload`, its entry if the server has it already; `state`
// "storing" until filestore.js has it, "lost" when it never will: chosen-files.js).

import { me } from "./state.js";

const textKey = (userID) => "chat-drafts:" + userID;
const filesKey = (userID) => "chat-draft-files:" + userID;
const DRAFTS_KEY = textKey(me.userID);

/** The localStorage key of this user's waiting files (other tabs watch it). */
export const DRAFT_FILES_KEY = filesKey(me.userID);

const memory = {}; // localStorage key -> {peerId: draft}, used only when localStorage is unavailable

function read(key) {
  try {
    const raw = JSON.parse(localStorage.getItem(key));
    return raw && typeof raw === "object" && !Array.isArray(raw) ? raw : {};
  } catch (e) {
    return Object.assign({}, memory[key]);
  }
}

function write(key, all) {
  memory[key] = all;
  try {
    if (Object.keys(all).length) localStorage.setItem(key, JSON.stringify(all));
    else localStorage.removeItem(key);
  } catch (e) { /* storage disabled or full: the in-memory copy still holds it */ }
}

/** The draft of the conversation with `peerId` ("" when none). */
export function draftFor(peerId) {
  const text = read(DRAFTS_KEY)[peerId];
  return typeof text === "string" ? text : "";
}

/** Keeps `text` as the draft of the conversation with `peerId` (forgets it when blank). */
export function saveDraft(peerId, text) {
  const all = read(DRAFTS_KEY);
  if (text.trim()) all[peerId] = text;
  else delete all[peerId];
  write(DRAFTS_KEY, all);
}

/** The files waiting in the conversation with `peerId`, in the order they were chosen. */
export function draftFilesFor(peerId) {
  const list = read(DRAFT_FILES_KEY)[peerId];
  return Array.isArray(list) ? list : [];
}

/** Applies `fn` (list -> list) to the stored files waiting for `peerId`; each change reads,
 * modifies and writes, so that tabs sharing the list do not overwrite each other's. */
export function changeDraftFiles(peerId, fn) {
  const all = read(DRAFT_FILES_KEY);
  const list = fn(Array.isArray(all[peerId]) ? all[peerId] : []);
  if (list.length) all[peerId] = list;
  else delete all[peerId];
  write(DRAFT_FILES_KEY, all);
}

/** Sets the `state` of the listed files `keys` waiting for `peerId` (none: stored). */
export function markDraftFiles(peerId, keys, state) {
  changeDraftFiles(peerId, (l) => l.map((f) => {
    if (!keys.includes(f.key)) return f;
    const marked = Object.assign({}, f, { state: state });
    if (!state) delete marked.state;
    return marked;
  }));
}

/** The conversations with files waiting in them. */
export function draftFilePeers() {
  return Object.keys(read(DRAFT_FILES_KEY));
}

/** The filestore.js keys of the files waiting in any conversation of `userID`. */
export function draftFileKeys(userID) {
  const keys = new Set();
  for (const list of Object.values(read(filesKey(userID)))) {
    for (const f of Array.isArray(list) ? list : []) if (f && f.key) keys.add(f.key);
  }
  return keys;
}

/** Forgets every draft, text and files (logging out; filestore.js forgets the files). */
export function clearDrafts() {
  write(DRAFTS_KEY, {});
  write(DRAFT_FILES_KEY, {});
}
