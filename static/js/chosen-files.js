// The files waiting beside the composer, per conversation, until Send takes them with the
// text as one message (send.js): each with its name, size and Remove, a picture also with a
// preview and a field for its alt text. Like the text beside them they survive a reload and
// a closed tab: each File is kept in filestore.js (IndexedDB) as soon as it is chosen, and
// listed in drafts.js at once, as "storing" until IndexedDB has it, so that a reload in
// between shows what could not be kept (lost-files.js) instead of dropping it unseen. Send
// hands its key on to the outbox once it is stored; a cancelled upload hands its files back.
// Without IndexedDB they wait in this tab's memory only. A composer holds at most the files
// one message may carry (the server's limit): beyond it the first ones stay, and the status
// line names those left out.

import { cloneTemplate, els, reconcile, setAttr, setText } from "./dom.js";
import { changeDraftFiles, DRAFT_FILES_KEY, draftFilePeers, draftFilesFor, markDraftFiles } from "./drafts.js";
import { fileFor, forgetFiles, keepFiles } from "./filestore.js";
import { fileSize } from "./format.js";
import { markLost, renderLost } from "./lost-files.js";
import { newClientId } from "./outbox.js";
import { dropPreviews, isPicture, showPreview } from "./previews.js";
import { config, store } from "./state.js";
import { announce } from "./uploader.js";

const ui = { list: document.getElementById("chosen-files") };

// peer userID -> [item], for each conversation this tab has shown. An item is a file's
// {key, name, type, size, alt, upload?} with its peer, its <li>, `storing` (true until
// filestore.js is done with its File), `stored` (a promise of that moment), `listed` (in
// drafts.js) and `gone` (removed or taken by Send). `upload` is the entry the server gave it
// before its message was cancelled.
const chosen = new Map();

const listing = (item) => ({ key: item.key, name: item.name, type: item.type, size: item.size, alt: item.alt, upload: item.upload });

function altInput(item) {
  return item.li.querySelector(".chosen-alt input");
}

// The preview's alt text is what the picture's will be: the sender's, else the file name.
function setAlt(item, alt) {
  item.alt = alt;
  setAttr(item.li.querySelector(".chosen-preview"), "alt", alt || item.name);
}

function newItem(peer, f) {
  const item = Object.assign({}, f, { peer: peer, li: cloneTemplate("chosen-file-template"), storing: false, stored: Promise.resolve(), listed: false, gone: false });
  const li = item.li;
  setText(li.querySelector(".chosen-name"), item.name);
  setText(li.querySelector(".chosen-size"), "(" + fileSize(item.size) + ")");
  setAttr(li.querySelector(".chosen-remove"), "aria-label", "Remove " + item.name);
  setAlt(item, item.alt);
  if (isPicture(item.type)) {
    li.querySelector(".chosen-alt").hidden = false;
    const input = altInput(item);
    // Its name says which picture; left empty, the file name is the alt text.
    setAttr(input, "aria-label", "Describe this image (" + item.name + ")");
    setAttr(input, "placeholder", item.name);
    input.value = item.alt;
    input.addEventListener("input", () => {
      setAlt(item, input.value.trim());
      if (item.listed) changeDraftFiles(peer, (l) => l.map((x) => (x.key === item.key ? Object.assign({}, x, { alt: item.alt }) : x)));
    });
  }
  return item;
}

function preview(item, file) {
  if (isPicture(item.type)) showPreview(item.li.querySelector(".chosen-preview"), file);
}

// The item leaves the composer: its preview goes, and it is never listed again.
function release(item) {
  item.gone = true;
  dropPreviews(item.li);
}

function drop(item) {
  const list = chosen.get(item.peer) || [];
  if (list.includes(item)) list.splice(list.indexOf(item), 1);
  release(item);
  if (item.peer === store.selected) renderChosen();
}

// An item for a file listed in drafts.js (chosen before a reload, in another tab, or taken
// back from a cancelled message): its preview comes when its File is read back. A File gone
// from the device cannot be sent, unless the server has it already: a notice says so.
function restore(peer, f) {
  const alt = typeof f.alt === "string" ? f.alt : "";
  const upload = f.upload && f.upload.id !== undefined ? f.upload : undefined;
  const item = newItem(peer, { key: f.key, name: String(f.name), type: String(f.type), size: Number(f.size) || 0, alt: alt, upload: upload });
  item.listed = true;
  fileFor(item.key).then((file) => {
    if (item.gone) return;
    if (file) preview(item, file);
    else if (!item.upload) { drop(item); markLost(peer, item.key); }
  });
  return item;
}

// The items of `peer`'s conversation, restored from drafts.js the first time this tab shows
// it: the files stored on the device (the others are lost-files.js' notices).
function itemsFor(peer) {
  if (!chosen.has(peer)) chosen.set(peer, draftFilesFor(peer).filter((f) => !f.state).map((f) => restore(peer, f)));
  return chosen.get(peer);
}

/** Shows the files waiting in the open conversation, and the notices of those not kept. */
export function renderChosen() {
  const list = store.selected ? itemsFor(store.selected) : [];
  reconcile(ui.list, list.map((item) => item.li));
  ui.list.hidden = !list.length;
  renderLost();
}

/** What the status line says of the files `names` that did not fit in the composer. */
export function leftOut(names) {
  return "Only " + config.maxAttachments + " files fit in one message; left out: " + names.join(", ") + ".";
}

/** Puts `files` beside the composer of the open conversation (up to the most a message may
 * carry) and keeps them; says what was taken, and what was not. */
export function chooseFiles(files) {
  const to = store.selected;
  if (!files.length || !to) return;
  const list = itemsFor(to);
  const taken = files.slice(0, Math.max(config.maxAttachments - list.length, 0));
  const items = taken.map((file) => newItem(to, { key: newClientId(), name: file.name, type: file.type, size: file.size, alt: "" }));
  items.forEach((item, i) => preview(item, taken[i]));
  // Listed at once, before IndexedDB has them, so that a reload meanwhile shows their loss.
  changeDraftFiles(to, (l) => l.concat(items.map((item) => Object.assign(listing(item), { state: "storing" }))));
  items.forEach((item) => { item.listed = true; item.storing = true; });
  const keys = items.map((item) => item.key);
  const stored = keepFiles(items.map((item, i) => [item.key, taken[i]])).then((durable) => {
    items.forEach((item) => { item.storing = false; });
    // A file removed or sent meanwhile is no longer listed: neither change brings it back.
    if (durable) { markDraftFiles(to, keys, undefined); return; }
    // In this tab's memory only: a reload will lose it, so nothing claims it was kept.
    changeDraftFiles(to, (l) => l.filter((x) => !keys.includes(x.key)));
    items.forEach((item) => { item.listed = false; });
  });
  for (const item of items) item.stored = stored;
  list.push(...items);
  renderChosen();
  const said = taken.length ? ["Attached " + taken.map((f) => f.name).join(", ") + "; Send sends it with your message."] : [];
  if (files.length > taken.length) said.push(leftOut(files.slice(taken.length).map((f) => f.name)));
  announce(said.join(" "));
}

const storingFor = (to) => itemsFor(to).filter((item) => item.storing);

/** The names of the files waiting for `to` that filestore.js is still storing. */
export function storingNames(to) {
  return storingFor(to).map((item) => item.name);
}

/** Resolves once filestore.js is done with every file waiting for `to`, those chosen
 * meanwhile too (in IndexedDB, or in this tab's memory when IndexedDB refused it). */
export async function filesStored(to) {
  for (let storing = storingFor(to); storing.length; storing = storingFor(to)) {
    await Promise.all(storing.map((item) => item.stored));
  }
}

/** Takes the files waiting for `to`, leaving none: [{key, name, type, size, alt, upload?}],
 * each File kept under its `key` in filestore.js if it was stored (filesStored). */
export function takeFiles(to) {
  if (!to) return [];
  const list = itemsFor(to);
  chosen.set(to, []);
  const keys = new Set(list.map((item) => item.key));
  if (list.some((item) => item.listed)) changeDraftFiles(to, (l) => l.filter((x) => !keys.has(x.key)));
  list.forEach(release);
  if (to === store.selected) renderChosen();
  if (list.length) announce("");
  return list.map(listing);
}

// The item leaves the composer and the device: removed, or left out.
function discard(item) {
  drop(item);
  if (item.listed) changeDraftFiles(item.peer, (l) => l.filter((x) => x.key !== item.key));
  forgetFiles([item.key]);
}

/** Puts the files of a message taken back from the outbox (its entries: to upload, or
 * uploaded, each File still kept under its key) beside `peer`'s composer again, first;
 * returns the names of the files chosen since that no longer fit (they are discarded):
 * the composer never holds more than one message may carry. */
export function returnFiles(peer, entries) {
  const back = entries.map((a) => {
    const f = { key: a.key || newClientId(), name: a.name, type: a.type, size: a.size, alt: a.alt || "" };
    if (a.id !== undefined) f.upload = Object.assign({}, a, { key: undefined });
    return f;
  });
  if (!back.length) return [];
  const out = itemsFor(peer).slice(Math.max(config.maxAttachments - back.length, 0));
  out.forEach(discard);
  changeDraftFiles(peer, (l) => back.concat(l));
  chosen.set(peer, back.map((f) => restore(peer, f)).concat(itemsFor(peer)));
  if (peer === store.selected) renderChosen();
  return out.map((item) => item.name);
}

function remove(item) {
  discard(item);
  announce("Removed " + item.name + ".");
  els.input.focus();
}

// Another tab chose, described, removed or sent waiting files: the conversations this tab
// has shown follow. Its own files not listed (in memory only) stay.
function follow() {
  for (const [peer, list] of chosen) {
    const listed = draftFilesFor(peer);
    const byKey = new Map(listed.map((f) => [f.key, f]));
    const mine = new Map(list.map((item) => [item.key, item]));
    // Another tab's shows once stored; one lost elsewhere is gone here too, unless this
    // tab is storing it right now (then it will be stored after all).
    const shows = (f) => !f.state || (mine.has(f.key) && (f.state === "storing" || mine.get(f.key).storing));
    list.filter((item) => item.listed && !(byKey.has(item.key) && shows(byKey.get(item.key)))).forEach(release);
    const next = listed.filter(shows).map((f) => {
      const item = mine.get(f.key);
      if (!item) return restore(peer, f);
      const alt = typeof f.alt === "string" ? f.alt : "";
      if (alt !== item.alt && document.activeElement !== altInput(item)) {
        setAlt(item, alt);
        altInput(item).value = alt;
      }
      return item;
    });
    chosen.set(peer, next.concat(list.filter((item) => !item.listed && !item.gone)));
  }
  renderChosen();
}

// Files still "storing" when their page went away: stored after all if IndexedDB has
// them, else lost (a tab storing one right now marks it stored again when it is done).
async function settleStoring() {
  for (const peer of draftFilePeers()) {
    for (const f of draftFilesFor(peer).filter((x) => x.state === "storing")) {
      markDraftFiles(peer, [f.key], (await fileFor(f.key)) ? undefined : "lost");
    }
  }
  follow();
}

/** Wires Remove, follows the user's other tabs, and shows what waits in the open
 * conversation, and what could not be kept. */
export function wireChosen() {
  settleStoring();
  ui.list.addEventListener("click", (ev) => {
    const li = ev.target.closest(".chosen-remove") && ev.target.closest("li");
    const item = (chosen.get(store.selected) || []).find((x) => x.li === li);
    if (item) remove(item);
  });
  window.addEventListener("storage", (ev) => {
    if (ev.key === DRAFT_FILES_KEY || ev.key === null) follow();
  });
  renderChosen();
}
