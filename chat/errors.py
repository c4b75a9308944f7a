"""What an HTTP request answers when the database fails under it: 503, never an HTML 500;
and a request carrying text no database column can hold: 400.

The API (``/api/*``) answers JSON ``{"error": "unavailable", "detail"}``, as its clients
read JSON; a page answers a friendly page with a link to try again. Both say
``Retry-After``: the database is expected back, and a 5xx that is not the server's bug
still tells monitoring that something is down.
"""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, jsonify, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from chat import logs
from chat.extensions import db

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
DETAIL = "the chat's storage is unavailable; try again shortly"


def unavailable(exc: SQLAlchemyError):
    """The 503 answer to a request whose database work failed."""
    with contextlib.suppress(SQLAlchemyError):  # a dead connection may refuse this too
        db.session.rollback()
    log.error("storage failed", exc_info=exc, extra=logs.fields("exception", None, "db"))
    if request.blueprint == "api":
        response = jsonify(error="unavailable", detail=DETAIL)
    else:
        # Retrying a GET is loading it again; a form posted (logout, settings) starts over.
        retry = request.full_path.rstrip("?") if request.method == "GET" else url_for("pages.index")
        response = render_template("unavailable.html", retry=retry)
    return response, 503, {"Retry-After": str(RETRY_AFTER_S), "Cache-Control": "no-store"}


def refuse_nul():
    """A 400 for a NUL character in the path, the query or a posted form, before any view.

    PostgreSQL's text cannot hold one, so such a request would otherwise fail in the
    database as a 503 on PostgreSQL and pass on SQLite; it is the client's error on both.
    """
    form = request.form.values() if request.mimetype == "application/x-www-form-urlencoded" else ()
    texts = (request.path, *request.args.keys(), *request.args.values(), *form)
    if not any("\x00" in text for text in texts):
        return None
    detail = "the request holds a NUL character"
    if request.path.startswith("/api/"):
        return jsonify(error="invalid_payload", detail=detail), 400
    return detail, 400, {"Content-Type": "text/plain; charset=utf-8"}


def init_app(app: Flask) -> None:
    """Answers database failures of every route with ``unavailable``, NULs with 400."""
    app.register_error_handler(SQLAlchemyError, unavailable)
    app.before_request(refuse_nul)
