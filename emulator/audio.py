"""The input audio buffer: appends, commits, and an energy VAD that turns speech into user messages."""

from __future__ import annotations

from dataclasses import dataclass

from .conversation import Conversation
from .pcm import StoredAudio, decode_audio, rms
from .protocol import ClientError, Emit, Json, require
from .responses import Responses
from .session_config import SessionConfig

VAD_WINDOW_MS = 10


@dataclass
class _VadState:
    speaking: bool = False
    item_id: str = ""
    speech_start: int = 0  # sample position of the first loud window
    last_loud_end: int = 0
    quiet_samples: int = 0


class InputAudio:
    """A connection's input audio buffer, its server VAD, and the `input_audio_buffer.*` client events."""

    def __init__(self, config: SessionConfig, conversation: Conversation, responses: Responses, emit: Emit) -> None:
        self._config = config
        self._conversation = conversation
        self._responses = responses
        self._emit = emit
        self._buffer = bytearray()
        self._buffer_start = 0  # sample position of the buffer's first sample in the session's audio
        self._vad_cursor = 0  # audio up to here has been through VAD
        self._vad = _VadState()

    @property
    def _position(self) -> int:
        """Samples written to the input buffer since the session started."""
        return self._buffer_start + len(self._buffer) // 2

    def _reset_buffer(self) -> None:
        self._buffer_start = self._position
        self._buffer.clear()
        self._vad_cursor = self._buffer_start
        self._vad = _VadState()

    async def on_audio_append(self, event: Json) -> None:
        audio = require(event, "audio", str, "a base64 string")
        self._buffer += decode_audio(audio, "audio")
        turn_detection = self._config.audio_config("input").get("turn_detection")
        if isinstance(turn_detection, dict) and turn_detection.get("type") == "server_vad":
            await self._run_vad(turn_detection)
        else:
            self._vad_cursor = self._position
            self._vad = _VadState()

    async def on_audio_commit(self, event: Json) -> None:
        if len(self._buffer) < 2:
            raise ClientError("input_audio_buffer_commit_empty", "The input audio buffer is empty: nothing to commit.")
        samples = len(self._buffer) // 2
        pcm = bytes(self._buffer[: samples * 2])
        self._reset_buffer()
        await self._commit_audio(
            self._conversation.new_item_id(), pcm, f"(audio {samples / self._config.input_rate:.2f} s)"
        )

    async def on_audio_clear(self, event: Json) -> None:
        self._reset_buffer()
        await self._emit("input_audio_buffer.cleared")

    async def on_output_audio_clear(self, event: Json) -> None:
        raise ClientError(
            "unsupported_event",
            "output_audio_buffer.clear is not supported: Yandex's documentation marks it as not supported yet.",
            "type",
        )

    async def _commit_audio(self, item_id: str, pcm: bytes, transcript: str) -> None:
        """The committed audio becomes a user message in the conversation."""
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": transcript}],
        }
        self._conversation.audio[item_id] = StoredAudio(rate=self._config.input_rate, samples=len(pcm) // 2, pcm=pcm)
        previous = self._conversation.items[-1]["id"] if self._conversation.items else None
        await self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        await self._conversation.add_item(item)

    async def _run_vad(self, config: Json) -> None:
        """Energy VAD over 10 ms windows of what has not been looked at yet."""
        rate = self._config.input_rate
        window = max(1, rate * VAD_WINDOW_MS // 1000)
        level = float(config.get("threshold", 0.5)) * 0.1 * 32768
        silence = int(config.get("silence_duration_ms", 500)) * rate // 1000
        while self._vad_cursor + window <= self._position:
            offset = (self._vad_cursor - self._buffer_start) * 2
            loud = rms(self._buffer[offset : offset + window * 2]) > level
            start, self._vad_cursor = self._vad_cursor, self._vad_cursor + window
            if not self._vad.speaking:
                if loud:
                    await self._speech_started(config, start)
            elif loud:
                self._vad.last_loud_end = self._vad_cursor
                self._vad.quiet_samples = 0
            else:
                self._vad.quiet_samples += window
                if self._vad.quiet_samples >= silence:
                    await self._speech_stopped(config)

    def _speech_start_with_padding(self, config: Json) -> int:
        padding = int(config.get("prefix_padding_ms", 300)) * self._config.input_rate // 1000
        return max(self._buffer_start, self._vad.speech_start - padding)

    async def _speech_started(self, config: Json, start: int) -> None:
        self._vad = _VadState(
            speaking=True, item_id=self._conversation.new_item_id(), speech_start=start, last_loud_end=self._vad_cursor
        )
        if self._responses.current is not None and config.get("interrupt_response", True) is not False:
            # The user talks over the answer: it stops, as with Yandex's default settings.
            self._responses.current.cancel("turn_detected")
        audio_start_ms = self._config.ms(self._speech_start_with_padding(config))
        await self._emit("input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=self._vad.item_id)

    async def _speech_stopped(self, config: Json) -> None:
        vad = self._vad
        start = self._speech_start_with_padding(config)
        end = self._vad_cursor
        pcm = bytes(self._buffer[(start - self._buffer_start) * 2 : (end - self._buffer_start) * 2])
        # What stays in the buffer is what came after the turn.
        del self._buffer[: (end - self._buffer_start) * 2]
        self._buffer_start = end
        self._vad = _VadState()
        await self._emit("input_audio_buffer.speech_stopped", audio_end_ms=self._config.ms(end), item_id=vad.item_id)
        speech_s = (vad.last_loud_end - vad.speech_start) / self._config.input_rate
        await self._commit_audio(vad.item_id, pcm, f"(speech {speech_s:.2f} s)")
        if config.get("create_response", True) is not False:
            await self._responses.start_response(self._responses.response_params({}))
