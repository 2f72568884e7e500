"""The upstreams a session can use, by name."""

from __future__ import annotations

from .base import Upstream, UpstreamClosed, UpstreamConnection, UpstreamError
from .emulator_upstream import EmulatorUpstream
from .yandex import YandexUpstream

UPSTREAMS: dict[str, Upstream] = {u.name: u for u in (YandexUpstream(), EmulatorUpstream())}


def default_upstream_name() -> str:
    """Yandex when configured, else the emulator."""
    return "yandex" if UPSTREAMS["yandex"].is_available() else "emulator"


def available_upstreams() -> list[str]:
    return [name for name, u in UPSTREAMS.items() if u.is_available()]


__all__ = [
    "UPSTREAMS",
    "Upstream",
    "UpstreamClosed",
    "UpstreamConnection",
    "UpstreamError",
    "available_upstreams",
    "default_upstream_name",
]
