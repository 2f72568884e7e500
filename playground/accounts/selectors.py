"""Reads for accounts."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from .models import ApiToken
from .services import TOKEN_PREFIX, token_digest


def user_for_api_token(*, token: str) -> AbstractBaseUser | None:
    """The active user a bearer token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = ApiToken.objects.select_related("user").filter(digest=token_digest(token)).first()
    if row is None or not row.user.is_active:
        return None
    # Touch at most once a minute: this runs on every API call.
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user
