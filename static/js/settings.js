// The settings pop-over (read receipts, notifications) closes like a menu: Escape, or a
// click elsewhere. The read-receipts form itself is a plain server-side form.

import { els } from "./dom.js";

/** Makes the settings <details> close on Escape and on a click outside it. */
export function wireSettings() {
  const settings = els.settings;
  settings.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && settings.open) {
      settings.open = false;
      settings.querySelector("summary").focus();
    }
  });
  document.addEventListener("click", (ev) => {
    if (settings.open && !settings.contains(ev.target)) settings.open = false;
  });
}
