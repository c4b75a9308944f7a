// Attaching files (PROTOCOL.md B10): the attach button, pasting an image, dropping files on
// the composer. Each way uploads the files one after another (progress shown, Cancel aborts),
// then queues one message carrying them with the composer's text.

import { els } from "./dom.js";
import { queueMessage } from "./send.js";
import { store } from "./state.js";

const MAX_FILES = 10; // the most a message may carry

const $ = (id) => document.getElementById(id);
const ui = {
  attach: $("attach"),
  input: $("attach-input"),
  box: $("upload"),
  label: $("upload-label"),
  progress: $("upload-progress"),
  cancel: $("upload-cancel"),
  status: $("upload-status"),
};
// The session's CSRF token, the same one the composer's no-script form posts.
const csrfToken = els.composer.querySelector("input[name=csrf_token]").value;

let current = null; // the XMLHttpRequest under way, for Cancel

// Words for a refused upload: the server's detail, and when to retry after a 429.
function refusal(xhr) {
  let detail = "";
  try { detail = JSON.parse(xhr.responseText).detail || ""; } catch (e) { /* not JSON */ }
  if (xhr.status === 429) {
    const wait = xhr.getResponseHeader("Retry-After");
    return "Too many uploads" + (wait ? ", try again in " + wait + " s" : ", try again shortly");
  }
  if (xhr.status === 413) return "Too large: " + (detail || "over the size limit");
  return detail || "the server answered " + xhr.status;
}

// Resolves with the upload's entry {id, name, type, size, url}; rejects with words.
function uploadOne(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    current = xhr;
    xhr.open("POST", "/api/attachments");
    xhr.setRequestHeader("X-CSRFToken", csrfToken);
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) ui.progress.value = Math.round((100 * ev.loaded) / ev.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) resolve(JSON.parse(xhr.responseText));
      else reject(new Error(refusal(xhr)));
    });
    xhr.addEventListener("error", () => reject(new Error("the connection failed")));
    xhr.addEventListener("abort", () => reject(new Error("cancelled")));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/** Uploads `files` and queues a message with them to the open conversation. */
async function attach(files) {
  const to = store.selected;
  if (!files.length || !to || current) return;
  const entries = [];
  ui.status.textContent = files.length > MAX_FILES ? "Only the first " + MAX_FILES + " files are attached." : "";
  ui.box.hidden = false;
  try {
    for (const file of files.slice(0, MAX_FILES)) {
      ui.label.textContent = "Uploading " + file.name;
      ui.progress.value = 0;
      entries.push(await uploadOne(file));
    }
  } catch (e) {
    ui.status.textContent = e.message === "cancelled" ? "Upload cancelled." : "Not attached: " + e.message;
    return;
  } finally {
    current = null;
    ui.box.hidden = true;
    ui.input.value = "";
  }
  queueMessage(to, entries);
}

/** Wires the attach button, pasting and dropping onto the composer. */
export function wireUploads() {
  ui.attach.hidden = false;
  ui.input.addEventListener("change", () => attach([...ui.input.files]));
  ui.cancel.addEventListener("click", () => { if (current) current.abort(); });
  els.input.addEventListener("paste", (ev) => {
    const files = [...(ev.clipboardData ? ev.clipboardData.files : [])];
    // Pasted text stays the browser's business; only files are taken over.
    if (!files.length) return;
    ev.preventDefault();
    attach(files);
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
    attach([...ev.dataTransfer.files]);
  });
}
