// The files of queued messages: uploaded when the message's turn comes (send.js), each one
// once. An uploaded file's entry replaces it in the outbox at once, so that a lost
// connection, a reload or another tab never uploads it again; the user's tabs take turns
// through a lock, so that two of them never upload the same file at the same time.

import { fileFor, forgetFiles } from "./filestore.js";
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

/** Outbox entries for a message's `files` (chosen-files.js takeFiles: kept in filestore.js
 * under their keys since they were chosen); resolves once they are stored. */
export async function stageFiles(files) {
  await Promise.all(files.map((f) => f.stored));
  return files.map((f) => ({ key: f.key, name: f.name, type: f.type, size: f.size, alt: f.alt || undefined }));
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
      const file = await fileFor(a.key);
      if (!file) return { failed: a.name + " is no longer on this device (the page that kept it closed); attach it again", permanent: true };
      const outcome = await uploadOne(file, a.name, a.alt);
      if (!outcome.entry) return outcome;
      recordUpload(clientId, a.key, outcome.entry);
      await forgetFiles([a.key]);
    }
  });
}

/** Forgets queued message `clientId` and the files it kept. */
export function discardQueued(clientId) {
  const m = outbox().find((p) => p.clientId === clientId);
  dropFromOutbox(clientId);
  const keys = ((m && m.attachments) || []).filter((a) => a.key).map((a) => a.key);
  if (keys.length) forgetFiles(keys);
}
