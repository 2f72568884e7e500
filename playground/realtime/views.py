"""Pages: the session list with a form to open one, and a session's live event view."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from playground.teams import selectors as team_selectors
from playground.teams.access import can_change
from playground.teams.models import EDITOR_ROLES
from playground.usage.views import budget_notices

from . import selectors
from .dialect.voices import YANDEX_VOICES
from .events import CLIENT_EVENTS
from .forms import RecordingFilterForm
from .upstreams import UPSTREAMS, default_upstream_name

# SpeechKit voices the session panel offers (Yandex's default first). A voice the server reports
# that is not listed here is still shown, so this list only has to be a good start.
SPEECHKIT_VOICES = YANDEX_VOICES
AUDIO_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
INPUT_LANGUAGES = ("ru-RU", "en-US", "kk-KZ", "uz-UZ", "de-DE", "fr-FR", "es-ES", "it-IT", "pt-PT", "tr-TR")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    sessions = selectors.session_list(user=request.user, limit=50)
    upstreams = [{"name": u.name, "title": u.title, "available": u.is_available()} for u in UPSTREAMS.values()]
    # Teams a session can be opened in (shared with it, counted against its budgets): where I may share into.
    teams = [t for t in team_selectors.team_list(user=request.user) if t.my_role in EDITOR_ROLES]  # type: ignore[attr-defined]
    return render(
        request,
        "realtime/home.html",
        {
            "sessions": sessions,
            "upstreams": upstreams,
            "default_upstream": default_upstream_name(),
            "teams": teams,
        },
    )


@login_required
def recording_list_page(request: HttpRequest) -> HttpResponse:
    """Every session I may see (mine and my teams'), filtered by preset, user, team, date and state."""
    form = RecordingFilterForm(request.GET or None, user=request.user)
    filters = form.cleaned_data if form.is_valid() else {}
    sessions = selectors.session_list(
        user=request.user,
        state=filters.get("state") or None,
        preset_id=filters.get("preset") or None,
        owner=filters.get("user") or None,
        team_id=filters.get("team") or None,
        since=_day_start(filters.get("since")),
        until=_day_start(filters.get("until"), days=1),
        limit=500,
    )
    return render(request, "realtime/recordings.html", {"form": form, "sessions": sessions})


def _day_start(day: date | None, *, days: int = 0) -> datetime | None:
    """The start of `day` (+ `days`) in the current time zone: "until" a date includes that whole day."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day + timedelta(days=days), time.min))


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
        "preset": (
            {"id": str(session.preset.id), "name": session.preset.name, "version": session.preset_version}
            if session.preset
            else None
        ),
        "owner": session.owner.get_username(),
        # A team's viewer watches; their client events would be refused (403).
        "canChange": can_change(user=request.user, obj=session),
        # Budgets this session counts against that are past their alert or used up (docs/usage.md).
        "budgets": budget_notices(user=session.owner, team_id=session.team_id),
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
