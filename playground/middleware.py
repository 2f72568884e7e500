"""Django's stock middleware, run in the event loop where they do no I/O.

Under ASGI, each `MiddlewareMixin` middleware hops to a worker thread for its
process_request and again for its process_response (asgiref's sync_to_async):
about a dozen thread hops per request, most of an API call's latency here. The
methods below do no I/O (they read headers, set attributes, build lazy objects)
and are called directly; the one that can touch the database (saving a
session, storing messages in it) still hops, and only when it has work to do.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware

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
