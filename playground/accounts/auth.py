"""Who is calling: a login cookie (browsers) or `Authorization: Bearer <token>` (scripts).

Used by the Ninja API and by every WebSocket route.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth

from playground.db import db

from .selectors import user_for_api_token


class ApiTokenAuth(HttpBearer):
    async def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = await db(user_for_api_token, token=token)
        if user is not None:
            request.user = user  # type: ignore[assignment]
        return user


CSRF_REFUSED = (
    "CSRF check failed: a write signed in with the login cookie needs the csrftoken cookie's value in the "
    "X-CSRFToken header (scripts: use a bearer token instead)."
)


class CookieAuth(SessionAuth):
    """Django's login cookie; Ninja enforces CSRF on writes made with it."""

    def _get_key(self, request: HttpRequest) -> str | None:
        # No login cookie, nothing to forge: the caller is simply not signed in (401 "sign in"),
        # not a cross-site forgery (403 CSRF_REFUSED).
        if self.param_name not in request.COOKIES:
            return None
        try:
            return super()._get_key(request)
        except HttpError as exc:  # Ninja's "CSRF check Failed": say what to send instead
            raise HttpError(403, CSRF_REFUSED) from exc

    async def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # type: ignore[override]
        # On the pool threads that keep their connection (playground/db.py): request.auser() would load
        # the session and the user on a thread of this request's own, with a database connection of
        # its own that outlives the request (2 workers opening 200 sessions ran PostgreSQL out of them).
        return await db(_signed_in_user, request=request)


def _signed_in_user(*, request: HttpRequest) -> Any:
    user = request.user  # lazy: loaded here
    return user if user.is_authenticated else None


api_auth = [ApiTokenAuth(), CookieAuth()]


def bearer_token_from_scope(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class BearerOrCookieAuthMiddleware:
    """Channels middleware: a bearer token wins; otherwise the session cookie is used."""

    def __init__(self, inner: Any) -> None:
        self.inner = AuthMiddlewareStack(inner)
        self.raw_inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        token = bearer_token_from_scope(scope)
        if token is not None:
            user = await db(user_for_api_token, token=token)
            scope = dict(scope, user=user or AnonymousUser())
            return await self.raw_inner(scope, receive, send)
        return await self.inner(scope, receive, send)
