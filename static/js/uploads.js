// Choosing files (PROTOCOL.md B10): the attach button, pasting, dropping on the composer.
// Chosen files wait beside the composer, per conversation, until Send takes them with the
// text as one message (send.js); an image shows a preview and a field for its alt text.

import { cloneTemplate, els, setAttr, setText } from "./dom.js";
import { fileSize } from "./format.js";
import { store } from "./state.js";
import { announce, wireUploader } from "./uploader.js";

const MAX_FILES = 10; // the most a message may carry
// The types the server shows as pictures (it decides by the bytes; this only offers alt text).
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

const $ = (id) => document.getElementById(id);
const ui = { attach: $("attach"), input: $("attach-input"), list: $("chosen-files") };

const chosen = new Map(); // peer userID -> [{file, alt, preview (object URL), li}]

function forget(item) {
  if (item.preview) URL.revokeObjectURL(item.preview);
}

function newItem(file) {
  const item = { file: file, alt: "", preview: null, li: cloneTemplate("chosen-file-template") };
  const li = item.li;
  setText(li.querySelector(".chosen-name"), file.name);
  setText(li.querySelector(".chosen-size"), "(" + fileSize(file.size) + ")");
  setAttr(li.querySelector(".chosen-remove"), "aria-label", "Remove " + file.name);
  if (IMAGE_TYPES.has(file.type)) {
    item.preview = URL.createObjectURL(file);
    const img = li.querySelector(".chosen-preview");
    img.src = item.preview;
    img.hidden = false;
    const field = li.querySelector(".chosen-alt");
    field.hidden = false;
    const input = field.querySelector("input");
    // Its name says which picture; left empty, the file name is the alt text.
    setAttr(input, "aria-label", "Describe this image (" + file.name + ")");
    setAttr(input, "placeholder", file.name);
    input.addEventListener("input", () => { item.alt = input.value.trim(); });
  }
  return item;
}

/** Shows the files chosen for the open conversation. */
export function renderChosen() {
  const list = chosen.get(store.selected) || [];
  ui.list.replaceChildren(...list.map((item) => item.li));
  ui.list.hidden = !list.length;
}

function choose(files) {
  const to = store.selected;
  if (!files.length || !to) return;
  const list = chosen.get(to) || [];
  const room = MAX_FILES - list.length;
  const taken = files.slice(0, Math.max(room, 0));
  list.push(...taken.map(newItem));
  chosen.set(to, list);
  renderChosen();
  ui.input.value = "";
  const names = taken.map((f) => f.name).join(", ");
  const more = files.length > taken.length ? " Only " + MAX_FILES + " files fit in one message." : "";
  announce((names ? "Attached " + names + "; Send sends it with your message." : "") + more);
}

/** Takes the files chosen for `to` ([{file, alt}]), leaving none. */
export function takeFiles(to) {
  const list = chosen.get(to) || [];
  chosen.delete(to);
  list.forEach(forget);
  if (to === store.selected) renderChosen();
  if (list.length) announce("");
  return list.map((item) => ({ file: item.file, alt: item.alt }));
}

/** Wires the attach button, pasting and dropping onto the composer, and Remove. */
export function wireUploads() {
  wireUploader();
  ui.attach.hidden = false;
  ui.input.addEventListener("change", () => choose([...ui.input.files]));
  ui.list.addEventListener("click", (ev) => {
    const li = ev.target.closest(".chosen-remove") && ev.target.closest("li");
    const list = chosen.get(store.selected) || [];
    const item = list.find((x) => x.li === li);
    if (!item) return;
    forget(item);
    list.splice(list.indexOf(item), 1);
    renderChosen();
    announce("Removed " + item.file.name + ".");
    els.input.focus();
  });
  els.input.addEventListener("paste", (ev) => {
    const files = [...(ev.clipboardData ? ev.clipboardData.files : [])];
    // Pasted text stays the browser's business; only files are taken over.
    if (!files.length) return;
    ev.preventDefault();
    choose(files);
  });
  const carriesFiles = (ev) => ev.dataTransfer && [...ev.dataTransfer.types].includes("Files");
  els.composer.addEventListener("dragover", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault();
    els.composer.classList.add("dropping");
  });
  els.composer.addEventListener("dragleave", () => els.composer.classList.remove("dropping"));
  els.composer.addEventListener("drop", (ev) => {
    els.composer.classList.remove("dropping");
    if (!carriesFiles(ev)) return;
    ev.preventDefault();
    choose([...ev.dataTransfer.files]);
  });
}
