"""The preset pages (playground/presets/views.py): who may open them and what their scripts are given."""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from playground.presets import services
from playground.presets.models import Preset
from playground.presets.schemas import PresetContent


def _page_data(html: str) -> dict[str, Any]:
    m = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, "the page has no page-data"
    return dict(json.loads(m.group(1)))


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _preset(user: Any, name: str = "Mine") -> Any:
    return services.preset_create(
        user=user, name=name, tags=["demo"], content=PresetContent.model_validate({"session": {"instructions": "Hi"}})
    )


def test_anonymous_is_sent_to_sign_in(transactional_db: None) -> None:
    res = Client().get("/presets/")
    assert res.status_code == 302 and res["Location"].startswith("/accounts/login/?next=/presets/")
    owner = User.objects.create_user("olga")
    preset = _preset(owner)
    res = Client().get(f"/presets/{preset.id}/")
    assert res.status_code == 302 and "/accounts/login/" in res["Location"]


def test_list_page_renders_with_its_urls(transactional_db: None) -> None:
    user = User.objects.create_user("olga")
    res = _client(user).get("/presets/")
    assert res.status_code == 200
    html = res.content.decode()
    assert "<h1>Presets</h1>" in html and "New preset" in html and "Trash" in html
    data = _page_data(html)
    assert data["username"] == "olga"
    assert data["listUrl"] == "/api/presets" and data["importUrl"] == "/api/presets/import"
    assert data["presetPageUrl"] == "/presets/{id}/" and data["sessionPageUrl"] == "/sessions/{id}/"
    assert 'href="/presets/"' in html  # the nav link


def test_owner_sees_the_preset_page(transactional_db: None) -> None:
    user = User.objects.create_user("olga")
    preset = _preset(user, "Weather bot")
    res = _client(user).get(f"/presets/{preset.id}/")
    assert res.status_code == 200
    html = res.content.decode()
    assert "Weather bot" in html and "Save changes" in html and "View code" in html
    data = _page_data(html)
    api = f"/api/presets/{preset.id}"
    assert data["readOnly"] is False
    assert data["apiUrl"] == api
    assert data["codeUrl"] == f"{api}/code" and data["forkUrl"] == f"{api}/fork"
    assert data["diffUrl"] == f"{api}/diff" and data["sessionsUrl"] == f"{api}/sessions"


def test_another_users_preset_page_is_404(transactional_db: None) -> None:
    owner = User.objects.create_user("olga")
    preset = _preset(owner)
    stranger = _client(User.objects.create_user("mallory"))
    assert stranger.get(f"/presets/{preset.id}/").status_code == 404
    assert _client(owner).get("/presets/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_a_builtin_preset_page_opens_for_anyone_signed_in(transactional_db: None) -> None:
    services.presets_onboarding_load()
    builtin = Preset.objects.filter(builtin=True).first()
    assert builtin is not None
    res = _client(User.objects.create_user("olga")).get(f"/presets/{builtin.id}/")
    assert res.status_code == 200 and builtin.name in res.content.decode()


def test_a_shared_link_page(transactional_db: None) -> None:
    """Read-only, no sign-in; its scripts get the share API's URLs only; a revoked link is 404."""
    owner = User.objects.create_user("olga")
    preset = services.preset_share(user=owner, preset=_preset(owner, "Shared one"))
    token = preset.share_token
    res = Client().get(f"/s/p/{token}/")
    assert res.status_code == 200
    html = res.content.decode()
    assert "Shared one" in html
    data = _page_data(html)
    assert data["readOnly"] is True and data["authenticated"] is False
    assert data["apiUrl"] == f"/api/shared/presets/{token}"
    assert data["codeUrl"] == f"/api/shared/presets/{token}/code"
    assert data["forkUrl"] == f"/api/shared/presets/{token}/fork"
    assert data["loginUrl"] == f"/accounts/login/?next=/s/p/{token}/"
    assert data["sessionsUrl"] is None and data["versionsUrl"] is None and data["shareUrl"] is None
    assert Client().get("/s/p/not-a-token/").status_code == 404
    services.preset_unshare(user=owner, preset=preset)
    assert Client().get(f"/s/p/{token}/").status_code == 404
