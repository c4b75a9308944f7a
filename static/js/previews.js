// Previews of pictures still on this device (waiting beside the composer, or queued in the
// outbox before their upload): an <img> showing the File through a blob: URL (the page's
// CSP allows img-src blob:), revoked once the picture leaves the page so that the browser
// can let go of its bytes.

// The types the server shows as pictures (it decides by the bytes; this only offers a
// preview and alt text).
const PICTURE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** True when a file of `type` would be shown as a picture. */
export function isPicture(type) {
  return PICTURE_TYPES.has(type);
}

/** Shows `file` in `img`, letting go of any earlier preview there. */
export function showPreview(img, file) {
  dropPreviews(img);
  img.src = URL.createObjectURL(file);
  img.hidden = false;
}

/** Lets go of the previews shown by `node` (an <img>, or an element holding some). */
export function dropPreviews(node) {
  const imgs = node.matches("img") ? [node] : node.querySelectorAll("img");
  for (const img of imgs) {
    if (img.src.startsWith("blob:")) {
      URL.revokeObjectURL(img.src);
      img.removeAttribute("src");
    }
  }
}
