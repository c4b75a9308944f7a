// Sending: one message at a time, in order, each with its clientId, from the outbox (its
// files uploaded first, outbox-files.js); the composer; Retry and Discard on a message that
// was not sent; Cancel during an upload.

import { filesStored, leftOut, returnFiles, storingNames, takeFiles } from "./chosen-files.js";
import { els } from "./dom.js";
import { clearDrafts, draftFor, saveDraft } from "./drafts.js";
import { hideDraft, isEditing, submitEdit } from "./editing.js";
import { renderConversation } from "./conversation.js";
import { forgetAllFiles, sweepFiles } from "./filestore.js";
import { changeOutbox, dropFromOutbox, newClientId, outbox, OUTBOX_KEY, patchQueued, saveOutbox } from "./outbox.js";
import { forgetQueued, hasFilesToUpload, queuedFiles, stageFiles, uploadFiles } from "./outbox-files.js";
import { renderAll } from "./render.js";
import { socket } from "./socket.js";
import { addMessage, config, me, peerOf, store } from "./state.js";
import { resetTyping } from "./typing.js";
import { announce } from "./uploader.js";

// Refusals that a retry cannot fix: such a message waits for the user, and holds back nothing.
const PERMANENT = new Set(["invalid_payload", "unknown_recipient", "too_long", "empty", "blocked", "unknown_attachment"]);

let flushing = false;
let flushTimer = null;
let generation = 0; // bumped on disconnect: acks of an older connection are only data
let queueing = null; // the conversation whose Send was pressed and waits for its files to be stored
let heldBack = []; // messages of that conversation cancelled meanwhile (see queueMessage)

function nextToSend() {
  for (const p of outbox()) {
    if (!p.failed) return p;
    // A message that failed for a passing reason holds back later ones, so none overtakes it.
    if (!p.permanent) return null;
  }
  return null;
}

function acked(message) {
  forgetQueued(message.clientId);
  const peer = store.users.get(peerOf(message));
  if (peer) addMessage(peer, message);
}

function markFailed(clientId, detail, permanent) {
  patchQueued(clientId, { failed: detail, permanent: permanent });
}

// A cancelled message's text goes back into its conversation's draft, before what was typed
// there since (the next message, begun during the upload: neither may be lost), and into
// the composer at once when it shows that draft, the caret staying in the text it was in.
// An edit in progress there hides the draft: the composer shows it when the edit ends.
// False when there was no text to give back.
function giveTextBack(m) {
  if (!m.content.trim()) return false;
  const shown = m.to === store.selected && !isEditing();
  const since = shown ? els.input.value : draftFor(m.to);
  const text = since.trim() ? m.content + "\n" + since : m.content;
  saveDraft(m.to, text);
  if (shown) {
    const shift = text.length - since.length;
    const [start, end] = [els.input.selectionStart + shift, els.input.selectionEnd + shift];
    els.input.value = text;
    els.input.setSelectionRange(start, end);
  } else {
    hideDraft(m.to, text);
  }
  return true;
}

// A cancelled upload takes its message back: gone from the outbox, its files beside the
// composer again (those already uploaded with their ids, so that Send does not upload them
// twice), its text in its draft. Files chosen meanwhile that no longer fit are left out.
function cancelled(m) {
  const out = returnFiles(m.to, queuedFiles(m.clientId)); // listed before the outbox lets go of them
  dropFromOutbox(m.clientId);
  const textBack = giveTextBack(m);
  if (textBack && m.to === queueing) heldBack.push(m);
  announce("Upload cancelled." + (textBack ? " Its text is back in the draft." : "") + (out.length ? " " + leftOut(out) : ""));
}

// Uploads `m`'s files, then goes on (its send, or what stopped it).
function uploadThenFlush(m, sentIn) {
  uploadFiles(m.clientId).then((outcome) => {
    // A lost connection meanwhile: the next one starts again (uploaded files stay uploaded).
    if (sentIn !== generation) return;
    flushing = false;
    store.inflight = null;
    if (outcome.wait) {
      flushTimer = setTimeout(flush, outcome.wait);
      return;
    }
    if (outcome.cancelled) cancelled(m);
    else if (outcome.failed) markFailed(m.clientId, outcome.failed, outcome.permanent);
    renderAll();
    flush();
  });
}

/** Sends the next queued message if connected and none awaits its ack; goes on after it. */
function flush() {
  clearTimeout(flushTimer);
  if (flushing || !socket.connected) return;
  const m = nextToSend();
  if (!m) return;
  flushing = true;
  store.inflight = m.clientId;
  const sentIn = generation;
  renderConversation();
  if (hasFilesToUpload(m)) {
    uploadThenFlush(m, sentIn);
    return;
  }
  const payload = { content: m.content, to: m.to, clientId: m.clientId };
  if (m.attachments && m.attachments.length) payload.attachments = m.attachments.map((a) => a.id);
  socket.timeout(config.sendTimeoutMs).emit("private message", payload, (err, ack) => {
    if (sentIn !== generation) {
      if (!err && ack && ack.ok) acked(ack.message);
      return;
    }
    flushing = false;
    store.inflight = null;
    if (err) {
      // No ack: if the connection is gone the message stays queued for the reconnect.
      if (socket.connected) markFailed(m.clientId, "the server did not answer", false);
    } else if (ack && ack.ok) {
      acked(ack.message);
    } else if (ack && ack.error === "rate_limited") {
      flushTimer = setTimeout(flush, ack.retryAfterMs || 1000);
      renderConversation();
      return;
    } else {
      const code = (ack && ack.error) || "invalid_payload";
      const peer = store.users.get(m.to);
      if (code === "blocked" && peer && !peer.blocked) peer.blockedMe = true;
      markFailed(m.clientId, (ack && ack.detail) || code, PERMANENT.has(code));
    }
    renderAll();
    flush();
  });
}

/** On a new connection: transient failures are retried, refused messages wait for the user. */
export function resumeSending() {
  changeOutbox((list) => list.map((p) => (p.failed && !p.permanent ? Object.assign({}, p, { failed: undefined }) : p)));
  renderConversation();
  flush();
}

/** On a lost connection: the message in flight stays queued; its late ack is only data. */
export function suspendSending() {
  generation++;
  flushing = false;
  store.inflight = null;
}

function retrySend(clientId) {
  patchQueued(clientId, { failed: undefined, permanent: undefined });
  renderConversation();
  els.input.focus();
  flush();
}

// Until the files Send takes are stored, the text and the files stay in the composer (its
// text read-only), where drafts.js keeps them: a reload or a closed tab meanwhile finds them
// there, a file IndexedDB never got as a notice (lost-files.js). Only then does the message
// move to the outbox, text and files at once, so that it never names a file missing from
// IndexedDB (another tab of the user, sending it, would find nothing to upload).
async function filesKept(to) {
  const storing = storingNames(to);
  if (!storing.length) return;
  els.input.readOnly = true;
  announce("Sending once " + storing.join(", ") + (storing.length > 1 ? " are" : " is") + " stored on this device.");
  await filesStored(to);
  els.input.readOnly = false;
}

/** Queues the composer's text and the files waiting for the open conversation
 * (chosen-files.js) as one message once the files are stored, and empties the composer. */
async function queueMessage() {
  const to = store.selected;
  if (!to || queueing) return;
  const content = els.input.value;
  queueing = to;
  await filesKept(to);
  queueing = null;
  const cancelledMeanwhile = heldBack.splice(0);
  const files = takeFiles(to);
  if (!content.trim() && !files.length) return;
  const m = { clientId: newClientId(), content: content, from: me.userID, to: to, queuedAt: new Date().toISOString() };
  if (files.length) m.attachments = stageFiles(files);
  changeOutbox((list) => list.concat([m]));
  saveDraft(to, "");
  if (to === store.selected) {
    els.input.value = "";
    els.input.focus();
  }
  // A text cancelled while this Send waited went into the draft before the text it took,
  // which the composer has just let go of with it: it goes back again, on its own.
  for (const c of cancelledMeanwhile) giveTextBack(c);
  resetTyping();
  renderConversation("bottom");
  flush();
}

/** Queues what the composer holds; Enter sends, Shift+Enter adds a line. */
export function wireSending() {
  els.composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (isEditing()) { submitEdit(); return; }
    queueMessage();
  });
  els.input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      els.composer.requestSubmit();
    }
  });
  // The Retry and Discard buttons come and go with their message: one listener for all.
  els.scroller.addEventListener("click", (ev) => {
    const button = ev.target.closest(".actions button");
    const item = button && button.closest("li.message");
    if (!item || !item.dataset.clientId) return;
    if (button.classList.contains("retry")) {
      retrySend(item.dataset.clientId);
    } else {
      forgetQueued(item.dataset.clientId);
      renderConversation();
      els.input.focus();
    }
  });
  window.addEventListener("storage", (ev) => {
    if (ev.key === OUTBOX_KEY) renderConversation(); // another tab queued or sent something
  });
  // A shared computer keeps nothing of this user's unsent words after logging out.
  if (els.logout) els.logout.addEventListener("submit", () => { saveOutbox([]); clearDrafts(); forgetAllFiles(); });
  sweepFiles();
}
