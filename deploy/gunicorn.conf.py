"""gunicorn settings of every chat process: `gunicorn -c deploy/gunicorn.conf.py app:create_app()`.

The worker class matters (plain gevent answers WebSocket upgrades with an error); one worker
per process, scaled out with processes behind nginx. The hooks give SIGTERM a graceful drain:
see chat/shutdown.py and docs/scaling.md.
"""

# gevent-websocket's worker, trimmed for idle connections (chat/worker.py); plain
# "geventwebsocket.gunicorn.workers.GeventWebSocketWorker" works too, with more memory.
worker_class = "chat.worker.Worker"
workers = 1
worker_connections = 10000
# Longer than the drain (DRAIN_TIMEOUT_S, twice at worst), so gunicorn never cuts it short.
graceful_timeout = 20
# gunicorn's control socket defaults to one path per user: the processes of a cluster on one
# host would take it from one another. Processes are driven by signals (deploy/cluster.py).
control_socket_disable = True


def post_worker_init(worker):
    """Starts presence in the worker and installs the draining SIGTERM handler, then tunes
    the garbage collector for serving (chat/worker.py)."""
    from chat import metrics, shutdown  # imported in the worker, after gevent's monkey-patching
    from chat import worker as chat_worker

    shutdown.on_worker_start(worker)
    metrics.FROZEN_OBJECTS.set(chat_worker.tune_gc())


def worker_exit(server, worker):
    """Lets the drain finish before the worker process ends."""
    if not hasattr(worker, "wsgi"):
        return  # the app failed to load: nothing to drain, and importing it would fail again
    from chat import shutdown

    shutdown.on_worker_exit(worker)
