"""Application factory: ``flask --app app run`` and ``gunicorn 'app:create_app()'`` call it."""

from __future__ import annotations

import os

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Builds the app: config, extensions, Socket.IO handlers, pages and security headers."""
    from chat import api, cli, config, presence, ratelimit, security, views
    from chat.extensions import csrf, db, migrate, socketio

    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config.load(app.instance_path, overrides=test_config))
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", config.engine_options(app.config))

    db.init_app(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    app.extensions["chat.presence"] = presence.create(app.config)
    app.extensions["chat.limiter"] = ratelimit.create(app.config)

    # Handlers must be registered before init_app, or apps after the first get none.
    from chat import events

    socketio.init_app(
        app,
        message_queue=app.config["REDIS_URL"],
        channel=f"{app.config['REDIS_PREFIX']}socketio",
        cors_allowed_origins=app.config["CORS_ALLOWED_ORIGINS"],
        max_http_buffer_size=config.max_buffer_size(app.config),
        # A connection's events run in its own reader greenlet, one after the other: no
        # greenlet spawned per message, and one client's messages are stored in send order.
        async_handlers=False,
    )
    # The other events go straight to python-socketio's (new) server: see chat/events.py.
    events.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    security.init_app(app)
    cli.init_app(app)
    return app
