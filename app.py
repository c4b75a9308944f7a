"""Application factory: ``flask --app app run`` and ``gunicorn 'app:create_app()'`` call it."""

from __future__ import annotations

import os

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Builds the app: config, extensions, services, Socket.IO handlers, pages and headers."""
    from chat import (
        account_views,
        api,
        attachment_views,
        cli,
        config,
        errors,
        instrument,
        jsonwire,
        lifecycle,
        logs,
        messagequeue,
        ops,
        security,
        services,
        startup,
        views,
    )
    from chat.extensions import csrf, db, migrate, socketio

    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config.load(app.instance_path, overrides=test_config))
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", config.engine_options(app.config))
    startup.check_config(app.config)  # before the engine exists: a bad URL fails in one line

    db.init_app(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    built = services.init_app(app)

    # Handlers must be registered before init_app, or apps after the first get none.
    from chat import changes, dispatch, events, search_events  # noqa: F401 (they declare the handlers)

    socketio.init_app(
        app,
        client_manager=messagequeue.create(app.config, built.redis, built.presence),
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
    # The other events go straight to python-socketio's (new) server: see chat/dispatch.py.
    dispatch.init_app(app)
    app.wsgi_app = lifecycle.DrainGate(app.wsgi_app, built.lifecycle)
    app.register_blueprint(views.bp)
    app.register_blueprint(account_views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(ops.bp)
    attachment_views.init_app(app)
    errors.init_app(app)
    security.init_app(app, max_event_bytes=config.max_buffer_size(app.config))
    cli.init_app(app)
    logs.init_app(app)
    instrument.install()
    startup.init_app(app)  # last: checks Redis and the database when about to serve
    return app
