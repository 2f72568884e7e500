"""The emulator: an offline realtime server speaking the GA protocol the way Yandex does.

It is a real WebSocket server (pure asyncio + `websockets`, no Django), so the
relay, the tests and the benchmark talk to it exactly as they talk to Yandex.
Everything it says is deterministic: the same client events on a fresh
connection give the same server events, ids included (ids count per
connection; only the session id carries the server's connection number).

What it answers:
- a user message `hello` → `You said: "hello".` (text, or audio: a quiet sine
  tone, 60 ms per word, with its transcript);
- a user message that names a function tool → a function call whose
  arguments come from the tool's JSON schema and the user's words; after a
  `function_call_output` item → `The tool answered: <output>.`;
- `response.metadata.emulator_words = "<N>"` stretches the answer to N words
  (benchmarks use it for long streams).

It refuses what Yandex is not sent, naming the field (so a client that forgot to
convert finds out, as the playground's `/v1/realtime` adapter would): a PCM rate
other than the server's own (44.1 kHz, Yandex's), G.711, a voice that is not a
SpeechKit voice, `semantic_vad`, and session fields Yandex's session lacks.

Per connection, `?pace=<events/s>&lifetime=<seconds>` in the URL override the
server's defaults; any path and a `model=` parameter are accepted; `?stamp=1`
(benchmarks) adds each event's send time as `x_emulator_sent_at`.

`python -m emulator --port N` serves it on its own. The modules: `server`
(listening, the per-connection query), `connection` (a client's event loop and
dispatch), `session_config`, `conversation`, `audio` (the input buffer and its
VAD), `responses` (the answer and its paced stream), `tools` (function tools),
`pcm` (the emulator's voice) and `protocol` (what they all share).
"""

from __future__ import annotations

from .connection import STAMP_FIELD
from .pcm import word_tone
from .responses import GREETING, stretch
from .server import EmulatorServer, connection_options
from .session_config import MODEL, default_session

__all__ = [
    "GREETING",
    "MODEL",
    "STAMP_FIELD",
    "EmulatorServer",
    "connection_options",
    "default_session",
    "stretch",
    "word_tone",
]
