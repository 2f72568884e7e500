"""Pages: the session list with a form to open one, and a session's live event view."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from . import selectors
from .events import CLIENT_EVENTS
from .upstreams import UPSTREAMS, default_upstream_name


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
    page_data = {
        "id": str(session.id),
        "state": session.state,
        "upstream": session.upstream,
        "clientEventTypes": list(CLIENT_EVENTS),
    }
    return render(request, "realtime/session.html", {"session": session, "page_data": page_data})
