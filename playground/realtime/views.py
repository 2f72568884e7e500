"""Pages: the session list with a form to open one, and a session's live event view."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from . import selectors
from .events import CLIENT_EVENTS
from .upstreams import UPSTREAMS, default_upstream_name

# SpeechKit voices the session panel offers (Yandex's default first). A voice the server reports
# that is not listed here is still shown, so this list only has to be a good start.
SPEECHKIT_VOICES = (
    "marina",
    "dasha",
    "alena",
    "filipp",
    "jane",
    "omazh",
    "zahar",
    "ermil",
    "madirus",
    "alexander",
    "kirill",
    "anton",
    "lera",
    "masha",
    "julia",
)
AUDIO_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
INPUT_LANGUAGES = ("ru-RU", "en-US", "kk-KZ", "uz-UZ", "de-DE", "fr-FR", "es-ES", "it-IT", "pt-PT", "tr-TR")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    sessions = selectors.session_list(user=request.user, limit=50)
    upstreams = [{"name": u.name, "title": u.title, "available": u.is_available()} for u in UPSTREAMS.values()]
    return render(
        request,
        "realtime/home.html",
        {"sessions": sessions, "upstreams": upstreams, "default_upstream": default_upstream_name()},
    )


@login_required
def session_page(request: HttpRequest, session_id: str) -> HttpResponse:
    session = selectors.session_get(user=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session")
    upstreams = [{"name": u.name, "title": u.title, "available": u.is_available()} for u in UPSTREAMS.values()]
    # Read-only context for the console's script (json_script): nothing here is a secret.
    page_data = {
        "id": str(session.id),
        "state": session.state,
        "stateReason": session.state_reason,
        "upstream": session.upstream,
        "upstreams": upstreams,
        "config": session.config,
        "clientEventTypes": list(CLIENT_EVENTS),
        "voices": list(SPEECHKIT_VOICES),
        "prices": settings.PLAYGROUND_PRICES,
    }
    context = {
        "session": session,
        "page_data": page_data,
        "voices": SPEECHKIT_VOICES,
        "audio_formats": AUDIO_FORMATS,
        "input_languages": INPUT_LANGUAGES,
        "upstream_title": UPSTREAMS[session.upstream].title if session.upstream in UPSTREAMS else session.upstream,
    }
    return render(request, "realtime/session.html", context)
