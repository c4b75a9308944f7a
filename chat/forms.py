"""Forms: login, logout and settings; server-side validation with errors next to the field."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

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
