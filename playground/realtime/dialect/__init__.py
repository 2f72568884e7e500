"""`/v1/realtime`'s two dialects: OpenAI's GA protocol on the client's side, Yandex's upstream.

Pure code (no Django): `translator.OpenAIDialect` is one connection's translator, `mapping` the
settings both ways, `audio` the formats and resampling, `voices` the voice table.
docs/openai-compat.md is the table of what maps to what.
"""

from .mapping import Problem
from .translator import FromClient, OpenAIDialect
from .voices import DEFAULT_VOICE_MAP, YANDEX_VOICES, VoiceMap

__all__ = ["DEFAULT_VOICE_MAP", "YANDEX_VOICES", "FromClient", "OpenAIDialect", "Problem", "VoiceMap"]
