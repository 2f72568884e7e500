"""Add as check: the conversation a session held, read from its recording, as a check of its preset.

Each response the user asked for (our response.create, or the server VAD's own) is a turn: what the user
typed since the last turn (a text turn), the audio they committed (an audio turn: the speech the VAD
found, or everything appended, kept as FLAC), or nothing (a response to the conversation as it stood).
Answers to function calls the user typed in become the check's canned `tool_outputs` and stay in their
turn; the playground's own canned answers (event ids `evt_canned_`) are the preset's already.

Each turn expects what happened: the last response's status, and the function called (name and
arguments) or that none was. Text is not asserted: a model's wording changes from run to run; add
`text_contains` or a judge on the Checks tab.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from playground.errors import PlaygroundError
from playground.presets.models import PresetVersion
from playground.realtime.models import RealtimeSession
from playground.realtime.runtime.frames import Frame
from playground.recordings.selectors import recording_frames

from . import schemas
from .turns import SessionFacts

CANNED_PREFIX = "evt_canned_"
SPEECH_PAD_MS = 200


@dataclass
class _Turn:
    user: dict[str, Any]
    statuses: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Reader:
    facts: SessionFacts = field(default_factory=SessionFacts)
    opening_left: int = 0
    typed: list[str] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    audio_start: int = 0  # sample position (in the session's input stream) of audio[0]
    position: int = 0  # samples appended so far
    speech: tuple[int | None, int | None] = (None, None)  # ms, from the VAD's events
    committed: bool = False
    tool_outputs: dict[str, str] = field(default_factory=dict)
    call_names: dict[str, str] = field(default_factory=dict)
    asked: int = 0  # our response.create not yet answered by response.created
    answered_tool: bool = False
    turns: list[_Turn] = field(default_factory=list)

    def client(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if str(event.get("event_id") or "").startswith(CANNED_PREFIX):
            return
        if kind == "conversation.item.create":
            item = event.get("item") or {}
            if self.opening_left > 0:
                self.opening_left -= 1  # the preset's opening conversation: the runner creates it again
                return
            if item.get("type") == "message" and item.get("role") == "user":
                text = " ".join(str(p.get("text") or "") for p in item.get("content") or [] if isinstance(p, dict))
                if text.strip():
                    self.typed.append(text.strip())
            elif item.get("type") == "function_call_output":
                name = self.call_names.get(str(item.get("call_id") or ""))
                if name:
                    self.tool_outputs[name] = str(item.get("output") or "")
                    self.answered_tool = True
        elif kind == "input_audio_buffer.append":
            pcm = base64.b64decode(str(event.get("audio") or ""))
            if not self.audio:
                self.audio_start = self.position
            self.audio += pcm
            self.position += len(pcm) // 2
        elif kind == "input_audio_buffer.commit":
            self.committed = bool(self.audio)
        elif kind == "input_audio_buffer.clear":
            self.audio.clear()
            self.committed = False
        elif kind == "response.create":
            self.asked += 1
            self._turn()

    def server(self, frame: Frame, event: dict[str, Any]) -> None:
        kind = frame.type
        if kind in ("session.created", "session.updated"):
            self.facts = SessionFacts.from_event(event, previous=self.facts)
        elif kind == "input_audio_buffer.speech_started":
            self.speech = (event.get("audio_start_ms"), None)
        elif kind == "input_audio_buffer.speech_stopped":
            self.speech = (self.speech[0], event.get("audio_end_ms"))
        elif kind == "input_audio_buffer.committed":
            self.committed = bool(self.audio)
        elif kind == "response.created":
            if self.asked:
                self.asked -= 1
            elif self.committed:  # started by the server's VAD: the committed speech is a turn
                self._turn()
        elif kind == "response.done" and self.turns:
            response = event.get("response") or {}
            turn = self.turns[-1]
            turn.statuses.append(str(response.get("status") or "completed"))
            for item in response.get("output") or []:
                if isinstance(item, dict) and item.get("type") == "function_call":
                    self.call_names[str(item.get("call_id") or "")] = str(item.get("name") or "")
                    turn.calls.append((str(item.get("name") or ""), str(item.get("arguments") or "")))

    def _turn(self) -> None:
        if self.typed:
            user: dict[str, Any] = {"type": "text", "text": "\n".join(self.typed)}
        elif self.committed and self.audio:
            user = self._audio_input(len(self.turns) + 1)
        elif self.answered_tool and self.turns:
            self.answered_tool = False
            return  # the response after a typed-in tool output belongs to the turn that called the tool
        else:
            user = {"type": "none"}
        self.turns.append(_Turn(user=user))
        self.typed, self.committed, self.answered_tool = [], False, False
        self.audio = bytearray()
        self.speech = (None, None)

    def _audio_input(self, number: int) -> dict[str, Any]:
        import soundfile

        from .audio import sound_from_pcm16

        rate = self.facts.input_rate
        pcm = bytes(self.audio)
        start_ms, end_ms = self.speech
        if isinstance(start_ms, int) and isinstance(end_ms, int) and end_ms > start_ms:
            # Only the speech the VAD found (with a little around it), not the silence streamed before it.
            first = max(0, (start_ms - SPEECH_PAD_MS) * rate // 1000 - self.audio_start)
            last = max(first, (end_ms + SPEECH_PAD_MS) * rate // 1000 - self.audio_start)
            pcm = pcm[first * 2 : last * 2] or pcm
        sound = sound_from_pcm16(pcm, rate=rate, source="the recording")
        out = io.BytesIO()
        soundfile.write(out, sound.samples, rate, format="FLAC")
        raw = out.getvalue()
        if len(raw) > schemas.MAX_AUDIO_FILE_BYTES:
            raise PlaygroundError(
                f"Turn {number}'s audio lasts {sound.seconds:.0f} s: too long to keep in a check "
                f"({len(raw)} bytes as FLAC, over {schemas.MAX_AUDIO_FILE_BYTES}).",
                status=422,
                field="session",
            )
        return {"type": "audio", "filename": f"turn-{number}.flac", "data": base64.b64encode(raw).decode("ascii")}


def _expectations(turn: _Turn) -> list[dict[str, Any]]:
    expect: list[dict[str, Any]] = []
    if turn.statuses:
        expect.append({"type": "response_status", "status": turn.statuses[-1]})
    named = set()
    for name, arguments in turn.calls:
        if name in named or not name:
            continue
        named.add(name)
        assertion: dict[str, Any] = {"type": "function_call", "name": name}
        try:
            parsed = json.loads(arguments or "{}")
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed:
            assertion["arguments"] = parsed
        expect.append(assertion)
    if not turn.calls:
        expect.append({"type": "no_function_call"})
    return expect


def _free_name(wanted: str, taken: set[str]) -> str:
    name, n = wanted[:100], 2
    while name in taken:
        suffix = f" ({n})"
        name, n = wanted[: 100 - len(suffix)] + suffix, n + 1
    return name


def check_from_recording(
    *, session: RealtimeSession, name: str | None, taken: set[str], preset_content: dict[str, Any]
) -> schemas.Check:
    """The check a session's recording makes (module docstring); 409 when it holds no answered turn."""
    version = None
    if session.preset_id is not None and session.preset_version is not None:
        version = PresetVersion.objects.filter(preset_id=session.preset_id, number=session.preset_version).first()
    opening = (version.content if version else preset_content).get("conversation") or []
    reader = _Reader(opening_left=len(opening))
    for frame in recording_frames(session_id=session.id):
        if frame.direction == "playground":
            continue
        event = json.loads(frame.data)
        if not isinstance(event, dict):
            continue
        if frame.direction == "client":
            reader.client(event)
        else:
            reader.server(frame, event)
    turns = [t for t in reader.turns if t.statuses]
    if not turns:
        raise PlaygroundError(
            "Nothing to make a check of: the session has no answered turn yet. Say something, get an answer, "
            "then add it as a check.",
            status=409,
        )
    wanted = (name or "").strip() or f"From session {str(session.id)[:8]}"
    data = {
        "name": _free_name(wanted, taken),
        "description": f"Made from session {session.id} with “Add as check”.",
        "turns": [{"user": t.user, "expect": _expectations(t)} for t in turns],
        **({"tool_outputs": reader.tool_outputs} if reader.tool_outputs else {}),
    }
    try:
        return schemas.Check.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PlaygroundError(f"The check could not be made: {first['msg']}", status=422, field="name") from None
