"""Django's stock middleware, run in the event loop where they do no I/O.

Under ASGI, each `MiddlewareMixin` middleware hops to a worker thread for its
process_request and again for its process_response (asgiref's sync_to_async):
about a dozen thread hops per request, most of an API call's latency here. The
methods below do no I/O (they read headers, set attributes, build lazy objects)
and are called directly; the one that can touch the database (saving a
session, storing messages in it) still hops, and only when it has work to do.
"""

from __future__ import annotations

import functools
from typing import Any

from csp.middleware import CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django_prometheus.middleware import PrometheusAfterMiddleware, PrometheusBeforeMiddleware

from playground.db import db


class _InLoop:
    """process_request / process_response are I/O-free: call them without a thread hop."""

    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class LoopSecurityMiddleware(_InLoop, SecurityMiddleware):
    pass


class LoopCommonMiddleware(_InLoop, CommonMiddleware):
    pass


class LoopCsrfViewMiddleware(_InLoop, CsrfViewMiddleware):
    # process_view (the check itself) is called by Django's handler, not __acall__.
    pass


class LoopAuthenticationMiddleware(_InLoop, AuthenticationMiddleware):
    # Sets lazy request.user / request.auser: the user is loaded only when asked for.
    pass


class LoopXFrameOptionsMiddleware(_InLoop, XFrameOptionsMiddleware):
    pass


class LoopSessionMiddleware(SessionMiddleware):
    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        self.process_request(request)  # a lazy session store: nothing is read yet
        response = await self.get_response(request)  # type: ignore[misc]
        if request.session.accessed:  # it may save: the database, so a thread
            return await db(self.process_response, request, response)
        return self.process_response(request, response)


class LoopMessageMiddleware(MessageMiddleware):
    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        self.process_request(request)  # lazy storage
        response = await self.get_response(request)  # type: ignore[misc]
        storage = getattr(request, "_messages", None)
        if storage is not None and (storage.used or storage.added_new):  # may write to the session
            return await db(self.process_response, request, response)
        return self.process_response(request, response)


class LoopCSPMiddleware(_InLoop, CSPMiddleware):
    """django-csp's Content-Security-Policy, in the loop. The policy is the same for every response unless a
    view changes it (django-csp's decorators) or uses a nonce, so it is built once (django-csp builds it per
    response: 2 x 14 µs, on every REST client event too); those others take django-csp's own path."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if any(hasattr(response, a) for a in _CSP_OVERRIDES) or getattr(request, "_csp_nonce", None) is not None:
            return super().process_response(request, response)
        # As django-csp: with debug on, Django's own 404 and 500 pages (inline styles) go without a policy.
        debug_page = settings.DEBUG and response.status_code in (404, 500)
        if not debug_page and CSP_HEADER not in response:
            response[CSP_HEADER] = _policy()
        return response


CSP_HEADER = "Content-Security-Policy"
# What django-csp's decorators set on a response to change its policy.
_CSP_OVERRIDES = ("_csp_exempt", "_csp_config", "_csp_update", "_csp_replace")


@functools.cache
def _policy() -> str:
    return build_policy()  # settings.CONTENT_SECURITY_POLICY


class LoopPrometheusBeforeMiddleware(_InLoop, PrometheusBeforeMiddleware):
    """django-prometheus' request counters, in the loop (they only count)."""


class LoopPrometheusAfterMiddleware(_InLoop, PrometheusAfterMiddleware):
    """django-prometheus' per-view counters and latencies, in the loop.

    Django calls process_view and process_template_response itself, through a thread unless they are
    coroutines: these are, since they only count."""

    async def process_view(self, request: HttpRequest, view_func: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().process_view(request, view_func, *args, **kwargs)

    async def process_template_response(self, request: HttpRequest, response: Any) -> Any:  # type: ignore[override]
        return super().process_template_response(request, response)
