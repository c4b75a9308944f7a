"""HTTP for attachments (PROTOCOL.md B10): upload, and download by a conversation's two people.

The caller is the page's session cookie (a POST then needs the CSRF token in the
``X-CSRFToken`` header) or ``Authorization: Bearer <sessionID>``. Errors are JSON
``{error, detail}`` with the codes of PROTOCOL.md B6 where one fits.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Blueprint, Flask, current_app, jsonify, request, session
from flask_wtf.csrf import ValidationError, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge

from chat import attachment_images, attachment_uploads, attachments, store
from chat.extensions import csrf
from chat.services import services

bp = Blueprint("attachments", __name__, url_prefix="/api/attachments")

# What a multipart body may carry beyond the file itself (boundaries, part headers).
MULTIPART_SLACK = 64 * 1024
# After a refusal, at most this much of the rest of a body is read and thrown away so that
# the client sees the answer; past it the connection is closed.
DISCARD_LIMIT = 64 * 1024 * 1024
# Served bytes are never run as a page, sniffed into another type, or kept on disk.
SERVE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _error(status: int, code: str, detail: str, **headers: str):
    response = jsonify(error=code, detail=detail)
    response.status_code = status
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _caller(needs_csrf: bool) -> tuple[store.Identity | None, str | None]:
    """The identity behind the request and, when refused, the reason (``csrf``)."""
    idle = current_app.config["SESSION_IDLE_DAYS"]
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        # A bearer that names no session is refused, never retried as the cookie.
        return store.resume(header[7:].strip(), idle), None
    me = store.resume(session.get("sessionID"), idle)
    if me is not None and needs_csrf and current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except ValidationError:
            return None, "csrf"
    return me, None


def _discard_rest_of_body() -> None:
    stream = request.environ.get("wsgi.input")
    left = DISCARD_LIMIT
    while stream is not None and left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            return
        left -= len(chunk)


def _answered_first(response):
    # Answer first, then drain: a client still sending the body would otherwise get a
    # reset instead of the answer. The WSGI server calls this after writing the response.
    response.call_on_close(_discard_rest_of_body)
    return response


def _too_large(limit: int):
    return _answered_first(
        _error(413, "too_large", f"an attachment may have at most {limit} bytes")
    )


def _entry(att, status: int):
    response = jsonify(attachments.wire(att))
    response.status_code = status
    response.headers["Location"] = attachments.URL_PREFIX + att.id
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("")
def upload():
    """Stores the ``file`` part (and the optional text part ``alt``, a description of it)
    for the caller; 201 with its wire entry (PROTOCOL.md B10). With an ``Idempotency-Key``
    header naming an upload of the caller's that still exists: 200 with that one's entry,
    the body unread and nothing stored."""
    me, refused = _caller(needs_csrf=True)
    if refused == "csrf":
        return _error(403, "csrf_failed", "the X-CSRFToken header is missing or wrong")
    if me is None:
        return _error(401, "not_authenticated", "no valid session")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not attachment_uploads.valid_key(key):
        detail = "Idempotency-Key must be 1 to 200 visible ASCII characters"
        return _answered_first(_error(400, "invalid_payload", detail))
    # Before the rate limit: a retry after a lost answer stores nothing, so costs no token.
    earlier = attachment_uploads.by_key(me.user_id, key)
    if earlier is not None:
        return _answered_first(_entry(earlier, 200))
    config = current_app.config
    wait = services().limiter.take(
        f"upload:{me.user_id}", config["UPLOAD_RATE"], config["UPLOAD_BURST"]
    )
    if wait:
        response = _error(429, "rate_limited", "too many uploads; try again shortly")
        response.headers["Retry-After"] = str(-(-wait // 1000))
        return response
    limit = int(config["MAX_ATTACHMENT_BYTES"])
    if (request.content_length or 0) > limit + MULTIPART_SLACK:
        return _too_large(limit)
    request.max_content_length = limit + MULTIPART_SLACK  # a chunked body stops here too
    try:
        part = request.files.get("file")
    except RequestEntityTooLarge:
        return _too_large(limit)
    if part is None:
        return _error(400, "invalid_payload", "send the file as the multipart part 'file'")
    part.stream.seek(0, 2)
    size = part.stream.tell()
    part.stream.seek(0)
    if size == 0:
        return _error(400, "empty", "the file is empty")
    if size > limit:
        return _too_large(limit)
    name = part.filename or "file"
    if len(name) > attachments.MAX_NAME or _has_controls(name):
        return _error(400, "invalid_payload", "the file name is too long or has control characters")
    alt = request.form.get("alt", "").strip() or None  # white space alone: no description
    if alt is not None and (len(alt) > attachments.MAX_ALT or _has_controls(alt)):
        limit = attachments.MAX_ALT
        return _error(400, "invalid_payload", f"alt is over {limit} characters or has controls")
    try:
        att, stored = attachment_uploads.save(
            me.user_id,
            name,
            part.stream,
            size,
            int(config["ATTACHMENT_MAX_PIXELS"]),
            int(config["ATTACHMENT_QUOTA_BYTES"]),
            alt,
            key,
        )
    except attachment_uploads.QuotaExceeded as exc:
        return _error(413, exc.code, exc.detail)
    except attachment_images.ImageRefused as exc:
        return _error(400, exc.code, exc.detail)
    return _entry(att, 201 if stored else 200)


def _has_controls(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


@bp.get("/<attachment_id>")
def download(attachment_id: str):
    """The file (``?thumb=1``: an image's thumbnail) for its uploader before it is sent, for
    the sender and recipient of its message after; 404 for anyone else. Streams; Range works."""
    me, _ = _caller(needs_csrf=False)
    if me is None:
        return _error(401, "not_authenticated", "no valid session")
    att = attachments.readable(me.user_id, attachment_id[:64])
    thumb = request.args.get("thumb") == "1"
    if att is None or (thumb and att.thumb_size is None):
        return _error(404, "not_found", "no such attachment")
    size = att.thumb_size if thumb else att.size
    kind = attachment_images.THUMB_TYPE if thumb else att.type
    start, stop, status = 0, size, 200
    wanted = request.range
    if wanted is not None and len(wanted.ranges) == 1:  # several ranges: the whole file
        span = wanted.range_for_length(size)
        if span is None:
            response = _error(416, "invalid_range", "the range is outside the file")
            response.headers["Content-Range"] = f"bytes */{size}"
            response.headers.update(SERVE_HEADERS)
            return response
        (start, stop), status = span, 206
    response = current_app.response_class(
        att.read(start, stop, thumb), status=status, mimetype=kind, direct_passthrough=True
    )
    response.content_length = stop - start
    response.headers.update(SERVE_HEADERS)
    response.headers["Accept-Ranges"] = "bytes"
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    disposition = "attachment" if kind == attachments.OCTET_STREAM else "inline"
    response.headers["Content-Disposition"] = content_disposition(disposition, att.name)
    return response


_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/;%]')


def content_disposition(kind: str, name: str) -> str:
    """A Content-Disposition header for ``name``: an ASCII fallback and RFC 6266's UTF-8 form.

    Control characters (CR, LF: header injection), quotes, backslashes and path separators
    never reach the header; a non-ASCII name travels percent-encoded as ``filename*``.
    """
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip(" .") or "file"
    fallback = "".join(
        c if " " <= c <= "~" else "" if unicodedata.combining(c) else "_"
        for c in unicodedata.normalize("NFKD", cleaned)
    )
    header = f'{kind}; filename="{fallback}"'
    if fallback != cleaned:
        header += "; filename*=UTF-8''" + quote(cleaned, safe="")
    return header


def init_app(app: Flask) -> None:
    """Called by ``create_app``: the routes, outside CSRFProtect (the view checks the header)."""
    # CSRFProtect would look for the token in the form, parsing a whole upload first, and
    # would refuse a Bearer caller, who needs none.
    csrf.exempt(bp)
    app.register_blueprint(bp)
