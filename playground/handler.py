"""Django's ASGI handler, without its thread hops for the API, which is async end to end.

For every request the stock handler enters a ThreadSensitiveContext (a new thread for the
request), runs the request_started receivers on that thread, and closes the response there too
(request_finished): two hops between the event loop and a thread that the API never otherwise
uses. Its ORM calls run on playground/db.py's pool, whose threads check their own connections.
Under load each hop waits for the GIL and the loop, and the new thread costs its start-up: with
50 sessions streaming, a REST client event spent more time there than in its own work.

The receivers are Django's (reset_queries, close_old_connections, close_caches, reset_urlconf):
on the loop thread they touch no connection, because no ORM runs there. Page views (sync, with
the ORM on the request's thread) keep the stock path, which closes that thread's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.urls import set_script_prefix

# Every operation under this prefix is an async view whose ORM calls go through playground.db
# (tests/test_asgi_middleware.py checks each one).
ASYNC_PREFIX = "/api/"


class LoopASGIHandler(ASGIHandler):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(ASYNC_PREFIX):
            await self._handle_in_loop(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _handle_in_loop(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """ASGIHandler.handle with the signals and the response's close run on the loop."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # create_request returns one or the other
            body_file.close()
            await self.send_response(error_response, send)
            error_response.close()
            return

        async def process_request() -> Any:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client went away meanwhile
                await self.send_response(response, send)
            return response

        # As the stock handler: a client disconnect cancels the view.
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request()),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            signals.request_finished.send(sender=self.__class__)
        else:
            response.close()
        body_file.close()
