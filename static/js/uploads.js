// Choosing files (PROTOCOL.md B10): the attach button, pasting, dropping on the composer.
// Chosen files wait beside the composer (chosen-files.js) until Send takes them with the
// text as one message (send.js).

import { chooseFiles, wireChosen } from "./chosen-files.js";
import { els } from "./dom.js";
import { wireLostFiles } from "./lost-files.js";
import { wireUploader } from "./uploader.js";

const $ = (id) => document.getElementById(id);
const ui = { attach: $("attach"), input: $("attach-input") };

/** Wires the attach button, pasting and dropping onto the composer, and the waiting files. */
export function wireUploads() {
  wireUploader();
  wireLostFiles();
  wireChosen();
  ui.attach.hidden = false;
  ui.input.addEventListener("change", () => {
    chooseFiles([...ui.input.files]);
    ui.input.value = "";
  });
  els.input.addEventListener("paste", (ev) => {
    const files = [...(ev.clipboardData ? ev.clipboardData.files : [])];
    // Pasted text stays the browser's business; only files are taken over.
    if (!files.length) return;
    ev.preventDefault();
    chooseFiles(files);
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
    chooseFiles([...ev.dataTransfer.files]);
  });
}
