"""Pages: a recorded session replayed in the browser (events, transcript and both audio sides)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from playground.realtime import selectors
from playground.realtime.upstreams import UPSTREAMS


def replay_page_data(
    session: Any, *, events_url: str, export_url: str, audio_url: str, console_url: str | None
) -> dict[str, Any]:
    """What replay.js reads (json_script `page_data`). The script uses only these URLs, so the same
    template serves any view of a recording (a shared link passes its own API URLs): events are read
    with `audio=ref`, their audio by byte range from `audioUrls`, the waveform from `peaksUrls`."""
    sides = ("user", "assistant", "items")  # media streams: "items" holds the audio of created items
    return {
        "id": str(session.id),
        "state": session.state,
        "stateReason": session.state_reason,
        "config": session.config,
        "eventsUrl": events_url,
        "audioUrls": {side: f"{audio_url}/{side}" for side in sides},
        "peaksUrls": {side: f"{audio_url}/{side}/peaks" for side in sides},
        "exportUrls": {
            "jsonl": f"{export_url}?format=jsonl",
            "md": f"{export_url}?format=md",
            "wav_user": f"{export_url}?format=wav&side=user",
            "wav_assistant": f"{export_url}?format=wav&side=assistant",
        },
        "prices": settings.PLAYGROUND_PRICES,
        "consoleUrl": console_url,
    }


@login_required
def replay_page(request: HttpRequest, session_id: str) -> HttpResponse:
    session = selectors.session_get(user=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session")
    api = f"/api/sessions/{session.id}"
    page_data = replay_page_data(
        session,
        events_url=f"{api}/events",
        export_url=f"{api}/export",
        audio_url=f"{api}/audio",
        console_url=reverse("session", args=[session.id]),
    )
    # The Share box and Re-run (recording-share.js); a shared link's view has neither.
    page_data |= {"sessionApiUrl": api, "teamsApiUrl": "/api/teams", "isOwner": session.owner_id == request.user.pk}
    context = {
        "session": session,
        "page_data": page_data,
        "upstream_title": UPSTREAMS[session.upstream].title if session.upstream in UPSTREAMS else session.upstream,
    }
    return render(request, "recordings/replay.html", context)


def shared_replay_page(request: HttpRequest, token: str) -> HttpResponse:
    """A recording shared by link: the same replay, read-only, for anyone holding the link."""
    session = selectors.session_get_by_share_token(token=token)
    if session is None:
        raise Http404("This share link is unknown or was revoked.")
    api = f"/api/shared/sessions/{token}"
    page_data = replay_page_data(
        session, events_url=f"{api}/events", export_url=f"{api}/export", audio_url=f"{api}/audio", console_url=None
    )
    context = {
        "session": session,
        "page_data": page_data,
        "shared": True,
        "upstream_title": UPSTREAMS[session.upstream].title if session.upstream in UPSTREAMS else session.upstream,
    }
    return render(request, "recordings/replay.html", context)
