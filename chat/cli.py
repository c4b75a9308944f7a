"""Admin commands: ``flask --app app <command>``; each logs one audit line.

Sockets of a user are closed through the Socket.IO message queue, so that reaches every
server process when ``REDIS_URL`` is set; without it a separate CLI process cannot reach
the server's sockets (they keep working until they reconnect, which then fails).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from chat import admin, attachments, payloads
from chat.extensions import socketio
from chat.logs import fields
from chat.services import services

log = logging.getLogger(__name__)


def _user(ref: str):
    try:
        return admin.find_user(ref)
    except admin.AdminError as exc:
        raise click.ClickException(str(exc)) from None


def _audit(command: str, user_id: str | None = None, **more: object) -> None:
    log.info("admin command", extra=fields("admin", user_id, command, **more))


def _disconnect(user_id: str) -> int:
    """Closes every socket of the user on every process; returns how many were asked to close."""
    if not current_app.config.get("REDIS_URL"):
        click.echo(
            "note: REDIS_URL is not set, so open sockets on a running server are not reached; "
            "they stay open until they reconnect, which is then refused",
            err=True,
        )
        return 0
    sids = services().presence.sids(user_id)
    for sid in sids:
        socketio.server.disconnect(sid)  # published on the queue to the process holding it
    return len(sids)


@click.command("list-users")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="One JSON object per user.")
def list_users(as_json: bool) -> None:
    """Lists every user: userID, username, state, live sessions, last seen."""
    shared = bool(current_app.config.get("REDIS_URL"))
    online = services().presence.online() if shared else set()
    for u in admin.list_users():
        if u.deleted:
            state = "deleted"
        elif not shared:
            state = "unknown"  # presence lives in the server's memory without Redis
        else:
            state = "online" if u.user_id in online else "offline"
        row = {
            "userID": u.user_id,
            "username": u.username,
            "state": state,
            "protected": u.protected,
            "sessions": u.sessions,
            "createdAt": payloads.iso(u.created_at),
            "lastSeen": payloads.iso(u.last_seen),
        }
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(
                f"{u.user_id}\t{u.username}\t{state}\t{u.sessions} sessions"
                f"\tlast seen {row['lastSeen'] or '-'}"
            )
    if not shared:
        click.echo("note: online state needs REDIS_URL (shared presence)", err=True)


@click.command("revoke-sessions")
@with_appcontext
@click.argument("user")
def revoke_sessions(user: str) -> None:
    """Ends every session of USER (userID or username) and closes its sockets."""
    target = _user(user)
    count = admin.revoke_sessions(target.id)
    closed = _disconnect(target.id)
    _audit("revoke_sessions", target.id, detail=f"sessions={count} sockets={closed}")
    click.echo(f"revoked {count} sessions of {target.id}; closed {closed} sockets")


@click.command("remove-user")
@with_appcontext
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove_user(user: str, yes: bool) -> None:
    """Removes USER: sessions ended, sockets closed, name freed; messages stay for peers."""
    target = _user(user)
    if not yes:
        click.confirm(f"Remove {target.username} ({target.id})?", abort=True)
    try:
        count = admin.remove_user(target.id)
    except admin.AdminError as exc:
        raise click.ClickException(str(exc)) from None
    closed = _disconnect(target.id)
    _audit("remove_user", target.id, detail=f"sessions={count} sockets={closed}")
    click.echo(f"removed {target.id}: {count} sessions ended, {closed} sockets closed")


def _write_export(a, b, out: TextIO) -> int:
    """Streams the conversation as one JSON document; returns the number of messages."""
    people = [a] if a.id == b.id else [a, b]
    head = {
        "exportedAt": payloads.iso(datetime.now(UTC).replace(tzinfo=None)),
        "users": [
            {"userID": u.id, "username": u.username, "deleted": u.deleted_at is not None}
            for u in people
        ],
    }
    # Written piece by piece: a long conversation is never held in memory as one list.
    out.write(json.dumps(head)[:-1] + ', "messages": [')
    count = 0
    for msg in admin.conversation(a.id, b.id):
        out.write(("," if count else "") + "\n  " + json.dumps(payloads.to_wire(msg)))
        count += 1
    out.write("\n]}\n")
    return count


@click.command("export-conversation")
@with_appcontext
@click.argument("user")
@click.argument("peer")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File (default: stdout).")
def export_conversation(user: str, peer: str, output: str | None) -> None:
    """Writes every message between USER and PEER as JSON, oldest first."""
    a, b = _user(user), _user(peer)
    if output:
        with open(output, "w", encoding="utf-8") as out:
            count = _write_export(a, b, out)
    else:
        count = _write_export(a, b, sys.stdout)
    _audit("export_conversation", a.id, detail=f"peer={b.id} messages={count}")
    if output:
        click.echo(f"exported {count} messages to {output}")


@click.command("purge-messages")
@with_appcontext
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    help="Age in days (default: RETENTION_DAYS; unset keeps messages forever).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def purge_messages(days: int | None, dry_run: bool) -> None:
    """Deletes messages older than a retention period, in days."""
    if days is None:
        configured = current_app.config.get("RETENTION_DAYS")
        if configured is None:
            click.echo("no retention period (RETENTION_DAYS unset): messages are kept forever")
            return
        days = int(configured)
    if dry_run:
        click.echo(f"would purge {admin.count_older(days)} messages older than {days} days")
        return
    purged, users = admin.purge_messages(days)
    _audit("purge_messages", None, detail=f"days={days} messages={purged} users={users}")
    click.echo(f"purged {purged} messages older than {days} days; {users} removed users dropped")


@click.command("purge-attachments")
@with_appcontext
def purge_attachments() -> None:
    """Deletes uploads never sent that are older than ATTACHMENT_UNSENT_TTL_S (a day)."""
    ttl = timedelta(seconds=float(current_app.config["ATTACHMENT_UNSENT_TTL_S"]))
    removed = attachments.purge_unsent(ttl)
    _audit("purge_attachments", None, detail=f"attachments={removed}")
    click.echo(f"removed {removed} unsent attachments")


def init_app(app: Flask) -> None:
    """Registers the admin commands on ``app``'s CLI."""
    for command in (
        list_users,
        revoke_sessions,
        remove_user,
        export_conversation,
        purge_messages,
        purge_attachments,
    ):
        app.cli.add_command(command)
