"""Pages: login, the chat (first paint rendered by the server), sending without JavaScript,
settings, logout, user search."""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy.exc import SQLAlchemyError

from chat import attachments, relative_time, relay, roster, store
from chat.extensions import db, socketio
from chat.forms import LoginForm, LogoutForm, MessageForm, SettingsForm
from chat.services import services

bp = Blueprint("pages", __name__)
# templates/rows.html words times as static/js/format.js does.
bp.add_app_template_filter(relative_time.ago, "ago")
bp.add_app_template_filter(relative_time.utc, "utc")


@bp.after_request
def _no_store(response):
    # Private messages: never kept by a shared cache nor shown from history after logout.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def current_identity() -> store.Identity | None:
    """The identity of the session cookie, if it names a live session."""
    token = session.get("sessionID")
    if not token:
        return None
    return store.resume(token, current_app.config["SESSION_IDLE_DAYS"])


@bp.get("/")
def index():
    """The chat for a logged-in browser, else the login form."""
    me = current_identity()
    if me is None:
        return render_template("login.html", form=LoginForm())
    config = current_app.config
    presence = services().presence
    users = roster.users_list(
        me.user_id, presence, config["HISTORY_PAGE"], config["USERS_LIST_LIMIT"]
    )
    selected = request.args.get("with")
    peer = next((u for u in users if u["userID"] == selected), None)
    if peer is None and selected:
        # Someone outside the capped list (a search result, a link): open them anyway.
        peer = roster.conversation(me.user_id, selected, presence, config["HISTORY_PAGE"])
        if peer is not None:
            users.append(peer)
    query = request.args.get("q", "").strip()[:64]
    # Shaped like GET /api/users' entries: the same row macro renders both.
    matches = store.search_users(query, 20) if query else []
    found = roster.found_users(me.user_id, matches, presence)
    user = store.get_user(me.user_id)
    settings_form = SettingsForm(
        read_receipts=bool(user and user.read_receipts), peer=peer["userID"] if peer else ""
    )
    # The script reads this instead of scraping the DOM; other conversations arrive by socket.
    initial = {
        "selected": peer["userID"] if peer else None,
        "users": [{**u, "messages": u["messages"] if u is peer else []} for u in users],
    }
    return render_template(
        "chat.html",
        me=me,
        users=users,
        peer=peer,
        query=query,
        found=found,
        initial=initial,
        logout_form=LogoutForm(),
        settings_form=settings_form,
        message_form=MessageForm(to=peer["userID"] if peer else "", clientId=uuid.uuid4().hex),
        max_length=config["MAX_MESSAGE_LENGTH"],
        users_limit=config["USERS_LIST_LIMIT"],
        edit_window=config.get("EDIT_WINDOW_S", 900),
        max_attachments=attachments.MAX_PER_MESSAGE,
    )


@bp.post("/login")
def login():
    """Creates or reclaims a user and puts its sessionID in the HttpOnly session cookie."""
    form = LoginForm()
    if form.validate_on_submit():
        try:
            _me, token = store.login(form.username.data, form.password.data or None)
        except store.UsernameTaken:
            form.username.errors.append(
                "This username is taken. If it is yours and protected, enter its password."
            )
        except SQLAlchemyError:
            db.session.rollback()
            form.username.errors.append("The chat is unavailable right now; try again shortly.")
            return render_template("login.html", form=form), 503
        else:
            session.clear()
            session["sessionID"] = token
            session.permanent = True
            return redirect(url_for("pages.index"))
    return render_template("login.html", form=form), 400


@bp.post("/logout")
def logout():
    """Revokes the session, closes its sockets in every tab, and clears the cookie."""
    form = LogoutForm()
    me = current_identity()
    if form.validate_on_submit() and me is not None:
        store.revoke(me.session_id)
        for sid in services().presence.sids(me.user_id, me.session_id):
            socketio.server.disconnect(sid)
    session.clear()
    return redirect(url_for("pages.index"))


@bp.post("/settings")
def settings():
    """Saves the logged-in user's preferences, then returns to the open conversation."""
    me = current_identity()
    if me is None:
        return redirect(url_for("pages.index"))
    form = SettingsForm()
    peer = form.peer.data or None
    if not form.validate_on_submit():  # CSRFProtect already refused a missing token
        return redirect(url_for("pages.index", **{"with": peer}))
    try:
        store.set_read_receipts(me.user_id, form.read_receipts.data)
    except SQLAlchemyError:
        db.session.rollback()
        flash("Settings were not saved: the chat is unavailable. Please try again.", "error")
    else:
        flash("Settings saved.", "info")
    return redirect(url_for("pages.index", **{"with": peer}))


@bp.post("/send")
def send():
    """A message posted by the composer form (no script): stored and relayed as a socket send
    is, then back to the conversation, at the new message."""
    me = current_identity()
    if me is None:
        return redirect(url_for("pages.index"))
    form = MessageForm()
    peer = form.to.data or None
    back = url_for("pages.index", **{"with": peer})
    if not form.validate_on_submit():  # CSRFProtect already refused a missing token
        for errors in form.errors.values():
            for error in errors:
                flash(f"Message not sent: {error}", "error")
        return redirect(back)
    try:
        saved = store.save_message(me.user_id, peer, form.content.data, form.clientId.data or None)
    except store.StoreError as exc:
        db.session.rollback()
        flash(f"Message not sent: {exc.detail}.", "error")
        return redirect(back)
    except SQLAlchemyError:
        db.session.rollback()
        flash("Message not sent: the chat is unavailable. Please try again.", "error")
        return redirect(back)
    relay.relay_saved(me, saved)
    return redirect(f"{back}#m-{saved.message.id}")
