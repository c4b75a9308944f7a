"""Admin commands: ``flask --app app <command>``."""

from __future__ import annotations

import click
from flask import Flask, current_app
from sqlalchemy import select

from chat.extensions import db
from chat.models import User


@click.command("list-users")
def list_users() -> None:
    """Lists every user with its online state."""
    online = current_app.extensions["chat.presence"].online()
    for user in db.session.scalars(select(User).order_by(User.name_key)):
        state = "online" if user.id in online else "offline"
        click.echo(f"{user.id}\t{user.username}\t{state}")


def init_app(app: Flask) -> None:
    """Called by ``create_app``; registers the admin commands."""
    app.cli.add_command(list_users)
