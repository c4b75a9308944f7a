"""Operations endpoints: liveness, readiness and the Prometheus scrape, in one blueprint.

``/metrics`` answers only the bearer token (METRICS_TOKEN) or a client connecting directly
from METRICS_ALLOWED_NETWORKS; see the README.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Request, Response, abort, current_app, request

from chat import config, metrics
from chat.readiness import readiness
from chat.services import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Readiness for the balancer: 200 with every check ok, else 503; JSON either way."""
    ready, body = readiness(current_app)
    return body, 200 if ready else 503


@bp.get("/metrics")
def metrics_view():
    """Prometheus exposition; 403 unless ``metrics_allowed`` lets the request in."""
    if not metrics_allowed(request, current_app.config):
        abort(403)
    body, content_type = metrics.render(services().presence, request.headers.get("Accept", ""))
    return Response(body, content_type=content_type)


def metrics_allowed(req: Request, settings: dict) -> bool:
    """The bearer token, or a direct client on an allowed network.

    A request that came through a proxy (forwarding headers) is not "direct": behind nginx
    on the same host every client would otherwise look like loopback.
    """
    token = settings.get("METRICS_TOKEN")
    if token:
        given = req.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    if any(h in req.headers for h in ("X-Forwarded-For", "X-Real-IP", "Forwarded")):
        return False
    try:
        addr = ipaddress.ip_address(req.remote_addr or "")
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    networks = config.metrics_networks(str(settings.get("METRICS_ALLOWED_NETWORKS", "")))
    return any(addr in net for net in networks)
