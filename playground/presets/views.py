"""Pages: the preset list, one preset (edit, versions and diffs, code, sharing), and a shared link's view.

The pages' scripts (static/playground/preset-*.js) read every URL they call from `page_data`
(json_script) and never build one, so the same template serves a preset of mine and a preset
seen through a share link (which has API URLs of its own)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from playground.realtime.upstreams import UPSTREAMS, default_upstream_name

from . import selectors

# Placeholders the scripts fill in ({id}) for pages they navigate to: a new preset, a new session.
_ID = "00000000-0000-0000-0000-000000000000"
_OTHER = "00000000-0000-0000-0000-000000000001"


def _page_template(name: str) -> str:
    return reverse(name, args=[_ID]).replace(_ID, "{id}")


def _checks_urls(api: str | None) -> dict[str, Any]:
    """What the Checks tab calls (null on a shared link's view: checks run as a signed-in user)."""
    if api is None:
        return {"checksUrl": None, "checkRunsUrl": None, "checkRunUrl": None, "upstreams": [], "defaultUpstream": None}
    return {
        "checksUrl": f"{api}/checks",
        "checkRunsUrl": f"{api}/check-runs",
        "checkRunUrl": "/api/check-runs/{id}",
        "replayPageUrl": _page_template("replay"),
        "comparePageUrl": reverse("compare", args=[_ID, _OTHER]).replace(_ID, "{left}").replace(_OTHER, "{right}"),
        "upstreams": [{"name": u.name, "title": u.title, "available": u.is_available()} for u in UPSTREAMS.values()],
        "defaultUpstream": default_upstream_name(),
    }


def _common(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "authenticated": bool(user.is_authenticated),
        "username": user.get_username() if user.is_authenticated else None,
        "presetPageUrl": _page_template("preset"),
        "sessionPageUrl": _page_template("session"),
        "listPageUrl": reverse("presets"),
    }


@login_required
@ensure_csrf_cookie
def preset_list_page(request: HttpRequest) -> HttpResponse:
    page_data = {
        **_common(request),
        "listUrl": "/api/presets",
        "trashUrl": "/api/presets?trashed=true",
        "createUrl": "/api/presets",
        "importUrl": "/api/presets/import",
        # POST {id}/sessions and {id}/restore: the list holds many presets, each by its id.
        "runUrl": "/api/presets/{id}/sessions",
        "restoreUrl": "/api/presets/{id}/restore",
    }
    return render(request, "presets/list.html", {"page_data": page_data})


def preset_page_data(request: HttpRequest, preset: Any, *, shared_token: str | None = None) -> dict[str, Any]:
    """What preset-page.js reads. A shared link's view is read-only and has only the URLs the
    share API offers (no versions, no sessions, no sharing); null means "not offered here"."""
    if shared_token is not None:
        api = f"/api/shared/presets/{shared_token}"
        here = reverse("shared-preset", args=[shared_token])
        return {
            **_common(request),
            "id": str(preset.id),
            "readOnly": True,
            "apiUrl": api,
            "codeUrl": f"{api}/code",
            "forkUrl": f"{api}/fork",
            "loginUrl": f"{reverse('login')}?next={here}",
            "versionsUrl": None,
            "diffUrl": None,
            "sessionsUrl": None,
            "exportUrl": f"{api}/export",
            "restoreUrl": None,
            "shareUrl": None,
            "teamsUrl": None,
            **_checks_urls(None),
        }
    api = f"/api/presets/{preset.id}"
    here = reverse("preset", args=[preset.id])
    return {
        **_common(request),
        "id": str(preset.id),
        "readOnly": False,
        "apiUrl": api,
        "codeUrl": f"{api}/code",
        "forkUrl": f"{api}/fork",
        "loginUrl": f"{reverse('login')}?next={here}",
        "versionsUrl": f"{api}/versions",
        "diffUrl": f"{api}/diff",
        "sessionsUrl": f"{api}/sessions",
        "exportUrl": f"{api}/export",
        "restoreUrl": f"{api}/restore",
        "shareUrl": f"{api}/share",
        "teamsUrl": "/api/teams",
        **_checks_urls(api),
    }


@login_required
@ensure_csrf_cookie
def preset_page(request: HttpRequest, preset_id: Any) -> HttpResponse:
    preset = selectors.preset_get(user=request.user, preset_id=preset_id)
    if preset is None:
        raise Http404("No such preset")
    context = {"preset": preset, "shared": False, "page_data": preset_page_data(request, preset)}
    return render(request, "presets/preset.html", context)


@ensure_csrf_cookie
def shared_preset_page(request: HttpRequest, token: str) -> HttpResponse:
    """A preset seen through its share link: read-only, no sign-in needed (forking needs one)."""
    preset = selectors.preset_get_by_share_token(token=token)
    if preset is None:
        raise Http404("No such shared preset")
    context = {"preset": preset, "shared": True, "page_data": preset_page_data(request, preset, shared_token=token)}
    return render(request, "presets/preset.html", context)
