"""Reads for accounts."""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone

from .models import ApiToken
from .services import TOKEN_PREFIX, token_digest

# Every API call checks its token: a recent answer is reused for a few seconds per worker
# process. So a revoked token or deactivated user stops working within this long.
TOKEN_CACHE_S = 5.0
_token_cache: dict[str, tuple[float, Any]] = {}


def user_for_api_token(*, token: str) -> Any:
    """The active user a bearer token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = token_digest(token)
    now = time.monotonic()
    hit = _token_cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = ApiToken.objects.select_related("user").filter(digest=digest).first()
    user = row.user if row is not None and row.user.is_active else None
    if len(_token_cache) > 10_000:
        _token_cache.clear()
    _token_cache[digest] = (now + TOKEN_CACHE_S, user)
    if row is not None and (row.last_used_at is None or (timezone.now() - row.last_used_at).total_seconds() > 60):
        # Touched at most once a minute: this runs on every API call.
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return user


def api_token_cache_clear() -> None:
    _token_cache.clear()
