"""Pages of recordings: two sessions compared side by side (a recording and its re-run)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from playground.realtime import selectors


@login_required
def compare_page(request: HttpRequest, left_id: str, right_id: str) -> HttpResponse:
    left = selectors.session_get(user=request.user, session_id=left_id)
    right = selectors.session_get(user=request.user, session_id=right_id)
    if left is None or right is None:
        raise Http404("No such session")
    # Read-only context for compare.js (json_script); it fetches the comparison itself and refreshes it.
    page_data = {
        "left": str(left.id),
        "right": str(right.id),
        "compareUrl": f"/api/sessions/{left.id}/compare/{right.id}",
        "leftUrl": reverse("session", args=[left.id]),
        "rightUrl": reverse("session", args=[right.id]),
    }
    return render(request, "recordings/compare.html", {"left": left, "right": right, "page_data": page_data})
