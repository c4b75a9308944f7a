"""The account page: set or change the password, download one's data, delete the account."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    session,
    stream_with_context,
    url_for,
)
from sqlalchemy.exc import SQLAlchemyError

from chat import admin, export, store
from chat.extensions import db, socketio
from chat.forms import DeleteAccountForm, LogoutForm, PasswordForm
from chat.services import services
from chat.views import current_identity

bp = Blueprint("account", __name__, url_prefix="/account")

UNAVAILABLE = "The chat is unavailable right now; nothing was changed. Please try again."


@bp.after_request
def _no_store(response):
    # The page and the export are private: never kept by a shared cache.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _page(password_form=None, delete_form=None, status=200):
    me = current_identity()
    user = store.get_user(me.user_id)
    return render_template(
        "account.html",
        me=me,
        has_password=bool(user and user.password_hash),
        password_form=password_form or PasswordForm(formdata=None),
        delete_form=delete_form or DeleteAccountForm(formdata=None),
        logout_form=LogoutForm(),
    ), status


@bp.get("")
def page():
    """The account page of the logged-in user (the login form for anyone else)."""
    if current_identity() is None:
        return redirect(url_for("pages.index"))
    return _page()


@bp.post("/password")
def password():
    """Sets the password, or changes it when the current one is given right."""
    me = current_identity()
    if me is None:
        return redirect(url_for("pages.index"))
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(password_form=form, status=400)
    user = store.get_user(me.user_id)
    if user.password_hash and not store.check_password(me.user_id, form.current_password.data):
        form.current_password.errors.append("This is not your current password.")
        return _page(password_form=form, status=400)
    try:
        store.set_password(me.user_id, form.new_password.data)
    except SQLAlchemyError:
        db.session.rollback()
        flash(UNAVAILABLE, "error")
        return redirect(url_for("account.page"))
    flash("Password saved: logging in as " + me.username + " now needs it.", "info")
    return redirect(url_for("account.page"))


@bp.get("/export")
def download():
    """Every conversation of the logged-in user as a JSON attachment."""
    me = current_identity()
    if me is None:
        return Response("Log in to download your data.\n", 401, mimetype="text/plain")
    user = store.get_user(me.user_id)
    name = f"chat-{user.username}.json".encode("ascii", "replace").decode().replace("?", "_")
    return Response(
        stream_with_context(export.user_data(user)),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/delete")
def delete():
    """Removes the account (messages stay with peers as "deleted user"), then logs out."""
    me = current_identity()
    if me is None:
        return redirect(url_for("pages.index"))
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        return _page(delete_form=form, status=400)
    typed = (form.confirm_name.data or "").strip().casefold()
    if typed != me.username.casefold():
        form.confirm_name.errors.append(f"Type {me.username} to confirm.")
        return _page(delete_form=form, status=400)
    sids = services().presence.sids(me.user_id)
    try:
        admin.remove_user(me.user_id)
    except (admin.AdminError, SQLAlchemyError):
        db.session.rollback()
        flash(UNAVAILABLE, "error")
        return redirect(url_for("account.page"))
    for sid in sids:  # every tab, on every process (through the message queue)
        socketio.server.disconnect(sid)
    session.clear()
    flash("Your account was deleted.", "info")
    return redirect(url_for("pages.index"))
