"""JSON over HTTP for the page: finding people to talk to beyond the bounded ``users`` list."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from chat import roster, store
from chat.services import services
from chat.views import current_identity

bp = Blueprint("api", __name__, url_prefix="/api")

SEARCH_LIMIT = 20


@bp.after_request
def _no_store(response):
    # Answers depend on who asks and change by the second: never cached, never shared.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/users")
def search_users():
    """Users whose name starts with ``q`` (case-insensitive), by name, at most 20.

    For the logged-in cookie session only: ``{"users": [{userID, username, connected,
    lastSeen}]}``; 401 without a session, 429 (with Retry-After) past the fetch rate limit.
    """
    me = current_identity()
    if me is None:
        return jsonify(error="not authenticated"), 401
    config = current_app.config
    wait = services().limiter.take(
        f"search:{me.user_id}", config["FETCH_RATE"], config["FETCH_BURST"]
    )
    if wait:
        response = jsonify(error="rate_limited", retryAfterMs=wait)
        response.headers["Retry-After"] = str(-(-wait // 1000))
        return response, 429
    found = store.search_users(request.args.get("q", ""), SEARCH_LIMIT)
    return jsonify(users=roster.found_users(me.user_id, found, services().presence))


@bp.get("/users/<user_id>")
def user(user_id: str):
    """One user by userID: the page learns the name of someone who messaged it first."""
    me = current_identity()
    if me is None:
        return jsonify(error="not authenticated"), 401
    found = store.get_user(user_id[:32])
    if found is None or found.deleted_at is not None:
        return jsonify(error="unknown user"), 404
    row = (found.id, found.username, found.last_seen)
    return jsonify(user=roster.found_users(me.user_id, [row], services().presence)[0])
