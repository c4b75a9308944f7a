"""Forms: login, logout, settings and the composer; server-side validation, errors by field."""

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from chat import store


class LoginForm(FlaskForm):
    """Username, and a password that protects (or reclaims) the name."""

    username = StringField("Username", validators=[DataRequired("Please choose a username.")])
    password = PasswordField("Password (optional)", validators=[Optional(), Length(min=8, max=128)])
    submit = SubmitField("Start chatting")

    def validate_username(self, field) -> None:
        """Same rules as the Socket.IO handshake."""
        try:
            store.normalize_username(field.data)
        except store.InvalidUsername as exc:
            raise ValidationError(f"Usernames are {exc.detail}.") from None


class LogoutForm(FlaskForm):
    """A CSRF-protected POST; logging out by GET would let any page log you out."""

    submit = SubmitField("Log out")


class SettingsForm(FlaskForm):
    """Per-user preferences, saved by a CSRF-protected POST to /settings."""

    read_receipts = BooleanField("Send read receipts")
    peer = HiddenField()
    submit = SubmitField("Save settings")


class MessageForm(FlaskForm):
    """The composer as a plain form (the page without JavaScript): one message to ``to``.

    ``clientId`` is rendered with the page, so that posting the same form twice (a reload
    after a lost response) stores the message once, as a socket retry does (PROTOCOL.md B2).
    """

    to = HiddenField(validators=[DataRequired("Pick someone to write to."), Length(max=32)])
    clientId = HiddenField(validators=[Optional(), Length(max=64)])
    content = TextAreaField("Message")
    submit = SubmitField("Send")

    def validate_content(self, field) -> None:
        """The socket's rules (PROTOCOL.md B6): not only white space, at most the limit."""
        # Browsers post a textarea's line breaks as CRLF; the socket path carries LF.
        field.data = (field.data or "").replace("\r\n", "\n")
        if not field.data.strip():
            raise ValidationError("The message is empty.")
        limit = current_app.config["MAX_MESSAGE_LENGTH"]
        if len(field.data) > limit:
            raise ValidationError(f"The message is over {limit} characters.")


class PasswordForm(FlaskForm):
    """Sets or changes the password; the current one is asked for when there is one."""

    current_password = PasswordField("Current password")
    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired("Please choose a password."),
            Length(min=8, max=128, message="Passwords are 8 to 128 characters."),
        ],
    )
    confirm = PasswordField(
        "New password again",
        validators=[EqualTo("new_password", "The two passwords differ.")],
    )
    submit = SubmitField("Save password")


class DeleteAccountForm(FlaskForm):
    """Deleting one's account, confirmed by typing one's username."""

    confirm_name = StringField("Type your username to confirm")
    submit = SubmitField("Delete my account")
