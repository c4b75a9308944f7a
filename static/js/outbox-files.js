// The files of queued messages: uploaded when the message's turn comes (send.js), each one
// once. An uploaded file's entry replaces it in the outbox at once, so that a lost
// connection, a reload or another tab never uploads it again; the user's tabs take turns
// through a lock, so that two of them never upload the same file at the same time. Each
// upload carries an Idempotency-Key, so that one whose answer was lost, sent again, is
// answered with the upload the server already stored.

import { forgetFiles, keptFile } from "./filestore.js";
import { changeOutbox, dropFromOutbox, outbox } from "./outbox.js";
import { me } from "./state.js";
import { uploadOne } from "./uploader.js";

const LOCK = "chat-uploads:" + me.userID;
let chain = Promise.resolve(); // the lock of a browser without Web Locks (this tab only)

function withLock(fn) {
  if (navigator.locks) return navigator.locks.request(LOCK, fn);
  const run = chain.then(fn);
  chain = run.catch(() => {});
  return run;
}

/** True when message `m` still has files to upload. */
export function hasFilesToUpload(m) {
  return (m.attachments || []).some((a) => a.id === undefined);
}

// An upload the server gave `f` before (a cancelled message's, chosen-files.js) goes again
// as it is, unless its description changed since: then the file is uploaded anew.
function reusable(f) {
  return f.upload && (f.upload.alt || "") === (f.alt || "");
}

/** Outbox entries for a message's `files` (chosen-files.js takeFiles, once filesStored: kept
 * in filestore.js under their keys). */
export function stageFiles(files) {
  return files.map((f) => {
    if (reusable(f)) return Object.assign({}, f.upload, { key: f.key });
    return { key: f.key, name: f.name, type: f.type, size: f.size, alt: f.alt || undefined };
  });
}

// The Idempotency-Key of an upload of a file kept with `token`: the token, and a hash of
// the description that goes with it, so that a description changed after a try the page
// never heard back from is a new upload, not the old one's description.
function idempotencyKey(token, alt) {
  let hash = 0x811c9dc5; // FNV-1a, 32 bits
  for (const c of alt || "") hash = Math.imul(hash ^ c.codePointAt(0), 0x01000193) >>> 0;
  return token + "." + hash.toString(16);
}

function recordUpload(clientId, key, entry) {
  changeOutbox((list) => list.map((p) => {
    if (p.clientId !== clientId) return p;
    return Object.assign({}, p, { attachments: p.attachments.map((a) => (a.key === key && a.id === undefined ? entry : a)) });
  }));
}

/**
 * Uploads the files of queued message `clientId` that have no id yet, in order. Resolves
 * with {} when none is left (or the message is gone), else with uploadOne's outcome for
 * the file that stopped it ({cancelled}, {wait}, {failed, permanent}).
 */
export function uploadFiles(clientId) {
  return withLock(async () => {
    for (;;) {
      // Read again each time: another tab may have uploaded, sent or discarded it meanwhile.
      const m = outbox().find((p) => p.clientId === clientId);
      const a = m && (m.attachments || []).find((x) => x.id === undefined);
      if (!a) return {};
      const kept = await keptFile(a.key);
      if (!kept) return { failed: a.name + " is no longer on this device (the page that kept it closed); attach it again", permanent: true };
      const outcome = await uploadOne(kept.file, a.name, a.alt, kept.token && idempotencyKey(kept.token, a.alt));
      if (!outcome.entry) return outcome;
      // The File stays under its key until the message is sent: a cancel may take it back.
      recordUpload(clientId, a.key, Object.assign({}, outcome.entry, { key: a.key }));
    }
  });
}

/** The files of queued message `clientId` (its outbox entries), which stay on the device. */
export function queuedFiles(clientId) {
  const m = outbox().find((p) => p.clientId === clientId);
  return (m && m.attachments) || [];
}

/** Forgets queued message `clientId` (sent or discarded) and the files it kept. */
export function forgetQueued(clientId) {
  const keys = queuedFiles(clientId).filter((a) => a.key).map((a) => a.key);
  dropFromOutbox(clientId);
  if (keys.length) forgetFiles(keys);
}
