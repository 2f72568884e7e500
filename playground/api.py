"""The one NinjaAPI: routers per app, and how errors answer.

Every error is JSON `{"detail": words, "field": the culprit or null, ...}`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from playground.checks.api import router as checks_router
from playground.errors import PlaygroundError
from playground.parser import NulRefusingParser
from playground.presets.api import router as presets_router
from playground.realtime.api import router as realtime_router
from playground.realtime.events import error_field
from playground.recordings.api import router as recordings_router
from playground.teams.api import router as teams_router
from playground.usage.api import router as usage_router

api = NinjaAPI(
    title="Realtime Playground API",
    version="1",
    description=(
        "Drive Yandex AI Studio Realtime sessions (or the built-in emulator) over REST. "
        "Authenticate with `Authorization: Bearer <token>` (`python manage.py create_api_token USERNAME`) "
        "or the browser's login cookie. Watch live on the WebSocket `ws_url` a session answers with."
    ),
    urls_namespace="api",
    parser=NulRefusingParser(),
    docs_url="/docs",
)
api.add_router("/", realtime_router)
api.add_router("/", presets_router)
api.add_router("/", recordings_router)
api.add_router("/", teams_router)
api.add_router("/", checks_router)
api.add_router("/", usage_router)

# Where Ninja puts a body or query field in its error locations; people know the field only.
_LOCATION_PREFIXES = ("body", "query", "path", "payload")


@api.exception_handler(PlaygroundError)
def on_playground_error(request: HttpRequest, exc: PlaygroundError) -> HttpResponse:
    body: dict[str, Any] = {"detail": exc.message, "field": exc.field, **exc.extra}
    response = api.create_response(request, body, status=exc.status)
    if exc.status == 429:  # a limit (playground/limits.py): when to try again, in seconds
        response["Retry-After"] = str(exc.extra.get("retry_after", 30))
    return response


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    status = 422
    for err in exc.errors:
        loc = list(err.get("loc", []))
        while loc and loc[0] in _LOCATION_PREFIXES:
            loc.pop(0)
        if err.get("type") == "too_large":
            status = 413
        errors.append({"field": error_field(tuple(loc), err), "message": str(err.get("msg", "invalid"))})
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return api.create_response(request, {"detail": detail, "field": first["field"], "errors": errors}, status=status)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request,
        {
            "detail": "Sign in, or send Authorization: Bearer <token> (manage.py create_api_token USERNAME).",
            "field": None,
        },
        status=401,
    )


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(request, {"detail": "The request body is over 21 MiB.", "field": "body"}, status=413)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, PlaygroundError):  # the parser refused the body in words (playground/parser.py)
        return on_playground_error(request, exc.__cause__)
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        # Ninja's answer to a body that is not JSON: a bad body like any other (422, naming it), in words.
        reason = f" ({exc.__cause__})" if exc.__cause__ else ""
        return api.create_response(
            request, {"detail": f"The request body is not valid JSON{reason}.", "field": "body"}, status=422
        )
    return api.create_response(request, {"detail": str(exc), "field": None}, status=exc.status_code)
