"""Writes for accounts: users and their API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from .models import ApiToken

TOKEN_PREFIX = "rtp_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user: User, name: str = "") -> str:
    """Create a token for `user` and return it; it cannot be shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=token[:12], digest=token_digest(token))
    return token


def user_get_or_create(*, username: str) -> tuple[User, bool]:
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user, created
