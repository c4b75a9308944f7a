// One upload (POST /api/attachments, PROTOCOL.md B10) with its progress bar and Cancel, and
// the composer's status line about files.

import { els } from "./dom.js";

const $ = (id) => document.getElementById(id);
const ui = {
  box: $("upload"),
  label: $("upload-label"),
  progress: $("upload-progress"),
  cancel: $("upload-cancel"),
  status: $("upload-status"),
};
// The session's CSRF token, the same one the composer's no-script form posts.
const csrfToken = els.composer.querySelector("input[name=csrf_token]").value;

let current = null; // the XMLHttpRequest under way, for Cancel

/** Says `text` in the composer's status line (a live region). */
export function announce(text) {
  ui.status.textContent = text;
}

// What a refused upload means for its message: words, and whether a retry may fix it.
function refusal(xhr) {
  let detail = "";
  try { detail = JSON.parse(xhr.responseText).detail || ""; } catch (e) { /* not JSON */ }
  if (xhr.status === 429) {
    const wait = Number(xhr.getResponseHeader("Retry-After")) || 1;
    return { wait: wait * 1000 };
  }
  if (xhr.status === 413) return { failed: "Too large: " + (detail || "over the size limit"), permanent: true };
  const words = detail || "the server answered " + xhr.status;
  // 400 and 403 say what is wrong with this file or request; 401 and 5xx may pass.
  return { failed: words, permanent: xhr.status === 400 || xhr.status === 403 };
}

/**
 * Uploads `file` as `name` with `alt` (if any) under the Idempotency-Key `key` (if any),
 * showing progress. Resolves with {entry} (its wire entry), {cancelled}, {wait: ms} (rate
 * limited), or {failed: words, permanent}.
 */
export function uploadOne(file, name, alt, key) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    current = xhr;
    ui.label.textContent = "Uploading " + name;
    ui.progress.value = 0;
    ui.box.hidden = false;
    const done = (outcome) => {
      current = null;
      ui.box.hidden = true;
      resolve(outcome);
    };
    xhr.open("POST", "/api/attachments");
    xhr.setRequestHeader("X-CSRFToken", csrfToken);
    if (key) xhr.setRequestHeader("Idempotency-Key", key);
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) ui.progress.value = Math.round((100 * ev.loaded) / ev.total);
    });
    // 200: the server already had this upload (its key), from a try whose answer was lost.
    const stored = () => xhr.status === 201 || xhr.status === 200;
    xhr.addEventListener("load", () => done(stored() ? { entry: JSON.parse(xhr.responseText) } : refusal(xhr)));
    xhr.addEventListener("error", () => done({ failed: "the connection failed", permanent: false }));
    xhr.addEventListener("abort", () => done({ cancelled: true }));
    const form = new FormData();
    if (alt) form.append("alt", alt);
    form.append("file", file, name);
    xhr.send(form);
  });
}

/** Wires Cancel: it aborts the upload under way. */
export function wireUploader() {
  ui.cancel.addEventListener("click", () => { if (current) current.abort(); });
}
