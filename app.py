"""Application factory: ``flask --app app run`` and ``gunicorn 'app:create_app()'`` call it."""

from __future__ import annotations

import os

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Builds the app: config, extensions, Socket.IO handlers, pages and security headers."""
    from chat import (
        api,
        cli,
        config,
        health,
        jsonwire,
        lifecycle,
        logs,
        messagequeue,
        metrics,
        presence,
        ratelimit,
        security,
        views,
    )
    from chat.extensions import csrf, db, migrate, socketio

    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config.load(app.instance_path, overrides=test_config))
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", config.engine_options(app.config))
    health.check_config(app.config)  # before the engine exists: a bad URL fails in one line

    db.init_app(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    app.extensions["chat.presence"] = presence.create(app.config)
    app.extensions["chat.limiter"] = ratelimit.create(app.config)

    # Handlers must be registered before init_app, or apps after the first get none.
    from chat import events

    socketio.init_app(
        app,
        client_manager=messagequeue.create(app.config),
        cors_allowed_origins=app.config["CORS_ALLOWED_ORIGINS"],
        max_http_buffer_size=config.max_buffer_size(app.config),
        # One socket's events run one at a time, in order, in that socket's reader: a flooding
        # client is held back by its own connection instead of spawning greenlets without end,
        # and one client's messages are stored in send order.
        async_handlers=False,
        # orjson, and no walk of every payload for binary data: see chat/jsonwire.py.
        json=jsonwire,
        serializer=jsonwire.Packet,
    )
    # The other events go straight to python-socketio's (new) server: see chat/events.py.
    events.init_app(app)
    lifecycle.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    security.init_app(app, max_event_bytes=config.max_buffer_size(app.config))
    cli.init_app(app)
    logs.init_app(app)
    metrics.init_app(app)
    health.init_app(app)  # last: readiness endpoints, then startup checks when serving
    return app
