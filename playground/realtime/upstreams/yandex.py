"""Yandex AI Studio Realtime: the real service.

Dialect facts: the model goes only in the query string,
as a full `gpt://<folder>/<model>` URI; auth is `Api-Key <key>` or
`Bearer <IAM token>`. The credentials stay here: they are never echoed into a
URL, a log line or anything a user can see.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings

from .base import Upstream, UpstreamError


def model_uri(*, model: str, folder_id: str) -> str:
    """`speech-realtime-250923` → `gpt://<folder>/speech-realtime-250923`; a full URI stays as is."""
    if model.startswith("gpt://"):
        return model
    return f"gpt://{folder_id}/{model}"


def auth_header(*, api_key: str, iam_token: str) -> str:
    # An API key wins: it does not expire mid-session the way an IAM token (12 h) can.
    if api_key:
        return f"Api-Key {api_key}"
    if iam_token:
        return f"Bearer {iam_token}"
    raise UpstreamError("Yandex is not configured: set YC_API_KEY or YC_IAM_TOKEN, and YC_FOLDER_ID.")


def connect_url(*, base_url: str, model: str) -> str:
    parts = urlsplit(base_url)
    # `gpt://folder/model` left readable, as in Yandex's own samples.
    query = (parts.query + "&" if parts.query else "") + urlencode({"model": model}, safe=":/")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


class YandexUpstream(Upstream):
    name = "yandex"
    title = "Yandex"

    def is_available(self) -> bool:
        return bool((settings.YC_API_KEY or settings.YC_IAM_TOKEN) and settings.YC_FOLDER_ID)

    async def endpoint(self, *, options: dict[str, Any]) -> tuple[str, dict[str, str], str]:
        if not self.is_available():
            raise UpstreamError("Yandex is not configured: set YC_API_KEY or YC_IAM_TOKEN, and YC_FOLDER_ID.")
        model = model_uri(model=settings.PLAYGROUND_YANDEX_MODEL, folder_id=settings.YC_FOLDER_ID)
        url = connect_url(base_url=settings.PLAYGROUND_YANDEX_URL, model=model)
        headers = {"Authorization": auth_header(api_key=settings.YC_API_KEY, iam_token=settings.YC_IAM_TOKEN)}
        return url, headers, url

    def secrets(self) -> list[str]:
        return [s for s in (settings.YC_API_KEY, settings.YC_IAM_TOKEN) if s]
