"""Counters against password guessing and mass sign-up (issue 7, abuse), in Django's cache.

- Failed sign-ins, per username and per client IP: PLAYGROUND_LOGIN_FAILURES within
  PLAYGROUND_LOGIN_LOCKOUT_MINUTES of the first one lock that username (or IP) out until that
  window ends, whatever the password. A successful sign-in clears its username's count.
- Accounts created per client IP: PLAYGROUND_SIGNUPS_PER_HOUR.

The cache is per process by default (settings.CACHES: LocMemCache, right for one worker); with
PLAYGROUND_REDIS_URL it is Redis, shared by every worker. A window starts at its first hit and
does not slide: `cache.add` starts it, `cache.incr` counts (atomic in Redis; the expiry stays).
The client IP is REMOTE_ADDR: behind a proxy, run uvicorn with --proxy-headers and
--forwarded-allow-ips so that it is the browser's address, not the proxy's.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _key(kind: str, value: str) -> str:
    # Hashed: usernames are free text, and cache keys must be short and plain (memcached rules).
    return f"throttle:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def _count(key: str) -> tuple[int, float]:
    """(hits in the current window, when it started as a Unix time)."""
    started = cache.get(key + ":start")
    count = cache.get(key, 0) if started is not None else 0
    return int(count), float(started or 0)


def _remaining(started: float, window_s: int) -> int:
    """Seconds left in a window; 0 or less once it has passed (whether or not the cache dropped it yet)."""
    return math.ceil(started + window_s - time.time())


def _hit(key: str, window_s: int) -> None:
    now = time.time()
    count, started = _count(key)
    if count and _remaining(started, window_s) <= 0:  # an old window the cache still holds: start anew
        cache.delete_many([key, key + ":start"])
    if cache.add(key + ":start", now, window_s):
        cache.set(key, 0, window_s)
    try:
        cache.incr(key)
    except ValueError:  # the count expired (or was evicted) between the two: start again
        cache.set(key + ":start", now, window_s)
        cache.set(key, 1, window_s)


def _wait(keys: list[str], limit: int, window_s: int) -> int:
    """Seconds until every one of `keys` is under `limit` again; 0 when none is at it."""
    if limit <= 0:
        return 0
    wait = 0
    for key in keys:
        count, started = _count(key)
        if count >= limit:
            wait = max(wait, _remaining(started, window_s))  # a passed window adds nothing
    return wait


def _login_keys(username: str, ip: str) -> list[str]:
    return [_key("login-user", username.strip().casefold()), _key("login-ip", ip)]


def _login_window_s() -> int:
    return max(1, settings.PLAYGROUND_LOGIN_LOCKOUT_MINUTES) * 60


def login_wait(*, username: str, ip: str) -> int:
    """Seconds until sign-in as `username` from `ip` is allowed again; 0: allowed now."""
    return _wait(_login_keys(username, ip), settings.PLAYGROUND_LOGIN_FAILURES, _login_window_s())


def login_failed(*, username: str, ip: str) -> None:
    if settings.PLAYGROUND_LOGIN_FAILURES > 0:
        for key in _login_keys(username, ip):
            _hit(key, _login_window_s())


def login_succeeded(*, username: str) -> None:
    key = _login_keys(username, "")[0]
    cache.delete_many([key, key + ":start"])


def signup_wait(*, ip: str) -> int:
    return _wait([_key("signup-ip", ip)], settings.PLAYGROUND_SIGNUPS_PER_HOUR, 3600)


def signup_done(*, ip: str) -> None:
    if settings.PLAYGROUND_SIGNUPS_PER_HOUR > 0:
        _hit(_key("signup-ip", ip), 3600)


def in_minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
