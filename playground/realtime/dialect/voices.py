"""Voices: OpenAI's names to Yandex's SpeechKit voices, by a default table a setting overrides.

The table (docs/openai-compat.md, "Voices") pairs each OpenAI voice with a SpeechKit voice of the
same kind (female or male, calm or bright); PLAYGROUND_VOICE_MAP, a JSON object, is merged over it,
and can name voices this list does not know yet (`{"newvoice": "newvoice"}` lets one pass).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# SpeechKit voices the realtime model speaks with (Yandex's default first): the console offers them,
# the emulator accepts only them, and a client naming one gets it as is.
YANDEX_VOICES = (
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

DEFAULT_VOICE_MAP: dict[str, str] = {
    "alloy": "lera",
    "ash": "filipp",
    "ballad": "ermil",
    "coral": "alena",
    "echo": "alexander",
    "sage": "julia",
    "shimmer": "dasha",
    "verse": "kirill",
    "marin": "marina",
    "cedar": "anton",
}


class VoiceMap:
    """Which Yandex voice a client's voice name means; None when there is none."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self.table = {**DEFAULT_VOICE_MAP, **(overrides or {})}

    def to_yandex(self, voice: Any) -> str | None:
        if not isinstance(voice, str):
            return None  # e.g. OpenAI's custom voice {"id": "voice_…"}: none exists at Yandex
        if voice in self.table:
            return self.table[voice]
        return voice if voice in YANDEX_VOICES else None

    def known(self) -> list[str]:
        return sorted({*self.table, *YANDEX_VOICES})
