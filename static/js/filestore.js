// The files waiting beside the composer (listed in drafts.js) and those of queued messages
// (outbox.js holds the messages; localStorage cannot hold files): in IndexedDB, so that a
// reload or a closed tab loses none of them, and every tab of the user reads the same ones.
// A file keeps its key when Send moves it from the composer to the outbox, and when a
// cancelled upload moves it back; it stays until its message is sent or discarded. Each
// file is kept with a random token of its own, the base of its upload's Idempotency-Key
// (outbox-files.js), so that the server knows a repeated upload of it. Without
// IndexedDB (disabled, or a private window that refuses it) they are kept in this tab's
// memory only, and a message whose file is gone says so (see outbox-files.js).

import { draftFileKeys } from "./drafts.js";
import { newClientId, queuedFileKeys } from "./outbox.js";
import { me } from "./state.js";

const DB = "chat-files";
const STORE = "files"; // key -> {user, file, savedAt, token}
// Younger files may belong to a message being queued, or a file being listed, right now.
const SWEEP_AFTER_MS = 60000;

const memory = new Map(); // key -> {file, token}: this tab's copy
let opened = null;

function open() {
  if (!opened) {
    opened = new Promise((resolve) => {
      let req;
      try { req = indexedDB.open(DB, 1); } catch (e) { resolve(null); return; }
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => resolve(null);
      req.onblocked = () => resolve(null);
    });
  }
  return opened;
}

// Runs `fn(store)` in one transaction; resolves with the request's result when it is done.
async function run(mode, fn) {
  const db = await open();
  if (!db) return undefined;
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req && req.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** Keeps `files` ([key, File] pairs); resolves once they are stored, with true when they
 * are in IndexedDB (they outlive this tab), false when only in this tab's memory. */
export async function keepFiles(files) {
  const rows = files.map(([key, file]) => [key, { file: file, token: newClientId() }]);
  for (const [key, row] of rows) memory.set(key, row);
  if (!(await open())) return false;
  try {
    await run("readwrite", (s) => {
      for (const [key, row] of rows) s.put(Object.assign({ user: me.userID, savedAt: Date.now() }, row), key);
    });
    return true;
  } catch (e) {
    return false; // storage full or refused: this tab's copy still sends
  }
}

/** What is kept under `key`: {file, token} (a file kept before tokens has none), or null
 * when it is gone. */
export async function keptFile(key) {
  try {
    const row = await run("readonly", (s) => s.get(key));
    if (row && row.file) return { file: row.file, token: row.token };
  } catch (e) { /* read this tab's copy */ }
  return memory.get(key) || null;
}

/** The File kept under `key`, or null when it is gone. */
export async function fileFor(key) {
  const kept = await keptFile(key);
  return kept && kept.file;
}

/** Forgets the files under `keys`. */
export async function forgetFiles(keys) {
  for (const key of keys) memory.delete(key);
  try { await run("readwrite", (s) => { for (const key of keys) s.delete(key); }); } catch (e) { /* swept later */ }
}

/** Forgets every file this device keeps, waiting or queued (logging out). */
export function forgetAllFiles() {
  memory.clear();
  run("readwrite", (s) => s.clear()).catch(() => {});
}

/** Forgets files that neither a queued message nor the waiting files of their user refer
 * to any more (a message sent or discarded, or a file removed, in a tab that closed before
 * forgetting them, or a logout). */
export async function sweepFiles() {
  const db = await open();
  if (!db) return;
  const now = Date.now();
  const live = new Map();
  const tx = db.transaction(STORE, "readwrite");
  tx.objectStore(STORE).openCursor().onsuccess = (ev) => {
    const cursor = ev.target.result;
    if (!cursor) return;
    const { user, savedAt } = cursor.value;
    if (!live.has(user)) live.set(user, new Set([...queuedFileKeys(user), ...draftFileKeys(user)]));
    if (!live.get(user).has(cursor.key) && now - savedAt > SWEEP_AFTER_MS) cursor.delete();
    cursor.continue();
  };
}
