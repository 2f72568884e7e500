"""What an operator (or a load balancer, or Prometheus) asks a worker: /healthz, /readyz, /metrics.

docs/operations.md documents them. /healthz and /readyz are open (a load balancer asks from anywhere)
and say nothing secret: what is down, in words, and the error's class, never its message (it may name
hosts). /metrics answers loopback as is and anyone else only with PLAYGROUND_METRICS_TOKEN.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from playground import metrics
from playground.db import db

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0
# Headers a reverse proxy adds: a request that has one came through a proxy, so its loopback peer address
# (the proxy's) says nothing of who asked.
_FORWARDED = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")


@require_GET
async def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers (liveness): nothing else is checked."""
    return JsonResponse({"status": "ok"})


def _database_check() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _check_database() -> None:
    await db(_database_check)


async def _check_channel_layer() -> None:
    """The layer's server answers: Redis is pinged (the in-memory layer is part of this process)."""
    if not settings.PLAYGROUND_REDIS_URL:
        get_channel_layer()  # configured and loadable
        return
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(
        settings.PLAYGROUND_REDIS_URL, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


_CHECKS = {
    "database": ("The database", _check_database),
    "channel_layer": ("The channel layer (Redis)", _check_channel_layer),
}


@require_GET
async def readyz(request: HttpRequest) -> HttpResponse:
    """Ready to serve (readiness): the database and the channel layer answer. 503 naming what is down."""

    async def run(name: str) -> str | None:
        words, check = _CHECKS[name]
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await check()
        except TimeoutError:
            log.warning("readyz: %s did not answer within %.0f s", name, CHECK_TIMEOUT_S)
            return f"{words} did not answer within {CHECK_TIMEOUT_S:.0f} s."
        except Exception as exc:
            log.warning("readyz: %s is down: %r", name, exc)
            return f"{words} is unreachable ({type(exc).__name__})."
        return None

    names = list(_CHECKS)
    results = await asyncio.gather(*(run(n) for n in names))
    checks: dict[str, Any] = {n: ("ok" if r is None else r) for n, r in zip(names, results, strict=True)}
    down = [r for r in results if r is not None]
    if down:
        return JsonResponse({"status": "unavailable", "detail": " ".join(down), "checks": checks}, status=503)
    return JsonResponse({"status": "ok", "checks": checks})


def _from_loopback(request: HttpRequest) -> bool:
    if any(request.META.get(h) for h in _FORWARDED):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _may_scrape(request: HttpRequest) -> bool:
    if _from_loopback(request):
        return True
    token = settings.PLAYGROUND_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format: every worker's figures (a sync view: the scrape reads files and the database)."""
    if not _may_scrape(request):
        if settings.PLAYGROUND_METRICS_TOKEN:
            detail = "/metrics needs Authorization: Bearer <PLAYGROUND_METRICS_TOKEN> from outside this host."
            refused = JsonResponse({"detail": detail, "field": "Authorization"}, status=401)
            refused["WWW-Authenticate"] = "Bearer"
            return refused
        detail = "/metrics answers only this host (loopback): set PLAYGROUND_METRICS_TOKEN to scrape from elsewhere."
        return JsonResponse({"detail": detail, "field": None}, status=403)
    return HttpResponse(metrics.scrape(), content_type=metrics.CONTENT_TYPE)
