"""Pages: login, the chat (first paint rendered by the server) and logout."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from sqlalchemy.exc import SQLAlchemyError

from chat import store
from chat.extensions import db, socketio
from chat.forms import LoginForm, LogoutForm

bp = Blueprint("pages", __name__)


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
    presence = current_app.extensions["chat.presence"]
    users = store.users_payload(
        me.user_id, presence, config["HISTORY_PAGE"], config["USERS_LIST_LIMIT"]
    )
    selected = request.args.get("with")
    peer = next((u for u in users if u["userID"] == selected), None)
    return render_template(
        "chat.html",
        me=me,
        users=users,
        peer=peer,
        logout_form=LogoutForm(),
        max_length=config["MAX_MESSAGE_LENGTH"],
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
        presence = current_app.extensions["chat.presence"]
        for sid in presence.sids(me.user_id, me.session_id):
            socketio.server.disconnect(sid)
    session.clear()
    return redirect(url_for("pages.index"))


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return {"status": "ok"}
