"""The builtin onboarding presets, loaded by `manage.py load_onboarding_presets` (idempotent by slug).

Each ships with checks (docs/checks.md) that pass on the emulator and mean something on Yandex too: they
assert what a good answer has (finished, spoken, quick, the right tool and arguments), not the emulator's
words. One speaks its turn with espeak-ng, one sends an audio file (onboarding_audio/), one calls a tool.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

WEATHER_OUTPUT = '{"temp_c": 3, "sky": "snow"}'
AUDIO_DIR = Path(__file__).resolve().parent / "onboarding_audio"


def _audio_file(name: str) -> dict[str, str]:
    """An audio file turn: the file (espeak-ng's voice saved as OGG Vorbis), base64, as the Checks tab keeps it."""
    return {"type": "audio", "filename": name, "data": base64.b64encode((AUDIO_DIR / name).read_bytes()).decode()}


COMPLETED = {"type": "response_status", "status": "completed"}
NO_TOOL = {"type": "no_function_call"}

ONBOARDING_PRESETS: list[dict[str, Any]] = [
    {
        "slug": "text-chat",
        "name": "Text chat",
        "description": "The simplest session: text in, text out. Type a message and ask for a response.",
        "tags": ["onboarding", "text"],
        "content": {
            "session": {
                "output_modalities": ["text"],
                "instructions": "You are a friendly assistant. Answer briefly and clearly.",
            },
            "response": None,
            "conversation": [],
            "tool_outputs": {},
            "checks": [
                {
                    "name": "answers a greeting",
                    "description": "A typed greeting gets a finished text answer, quickly and cheaply, with no tool.",
                    "turns": [
                        {
                            "user": {"type": "text", "text": "Hello! Who are you?"},
                            "expect": [
                                COMPLETED,
                                {"type": "text_matches", "pattern": "\\w"},
                                NO_TOOL,
                                {"type": "latency", "to": "first_text", "max_ms": 5000},
                                {"type": "tokens", "max": 2000},
                            ],
                        }
                    ],
                }
            ],
        },
    },
    {
        "slug": "russian-voice-agent",
        "name": "Russian voice agent",
        "description": "Speak Russian and hear the answer in the voice marina; server VAD takes turns for you.",
        "tags": ["onboarding", "voice", "ru"],
        "content": {
            "session": {
                "output_modalities": ["audio"],
                "instructions": "Ты вежливый голосовой помощник. Отвечай по-русски, коротко и по делу.",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 44100},
                        "turn_detection": {"type": "server_vad"},
                        "languages": ["ru-RU"],
                    },
                    "output": {"format": {"type": "audio/pcm", "rate": 44100}, "voice": "marina", "role": "good"},
                },
            },
            "response": None,
            "conversation": [],
            "tool_outputs": {},
            "checks": [
                {
                    "name": "answers a spoken greeting aloud",
                    "description": "A greeting spoken in Russian (espeak-ng, or SpeechKit on Yandex) ends its turn by "
                    "server VAD and gets a spoken answer.",
                    "turns": [
                        {
                            "user": {"type": "tts", "text": "Привет! Как у тебя дела?"},
                            "expect": [
                                COMPLETED,
                                {"type": "spoken_duration", "min_ms": 200, "max_ms": 60000},
                                {"type": "latency", "to": "first_audio", "max_ms": 8000},
                                NO_TOOL,
                            ],
                        }
                    ],
                }
            ],
        },
    },
    {
        "slug": "function-calling-weather",
        "name": "Function calling: weather",
        "description": (
            "The model may call get_weather(city); the playground answers with a canned output, so function "
            "calling can be seen without writing code."
        ),
        "tags": ["onboarding", "tools", "text"],
        "content": {
            "session": {
                "output_modalities": ["text"],
                "instructions": "When asked about the weather, call get_weather, then answer in one sentence.",
                "tools": [
                    {
                        "type": "function",
                        "name": "get_weather",
                        "description": "Current weather in a city.",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string", "description": "City name, e.g. Moscow"}},
                            "required": ["city"],
                        },
                    }
                ],
                "tool_choice": "auto",
            },
            "response": None,
            "conversation": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "What is the weather in Moscow right now?"}],
                }
            ],
            "tool_outputs": {"get_weather": WEATHER_OUTPUT},
            "checks": [
                {
                    "name": "calls get_weather for Moscow",
                    "description": "The model calls get_weather with the city asked about, then answers from the "
                    "canned output.",
                    "turns": [
                        {
                            "user": {"type": "text", "text": "What is the weather in Moscow?"},
                            "expect": [
                                {
                                    "type": "function_call",
                                    "name": "get_weather",
                                    "arguments_schema": {
                                        "type": "object",
                                        "properties": {"city": {"type": "string", "minLength": 1}},
                                        "required": ["city"],
                                    },
                                    "arguments": {"city": "Moscow"},
                                },
                                {"type": "text_matches", "pattern": "snow|снег"},
                                COMPLETED,
                            ],
                        }
                    ],
                }
            ],
        },
    },
    {
        "slug": "interruption-demo",
        "name": "Interruption demo",
        "description": (
            "Long spoken answers with server VAD that interrupts the response when you speak: talk over the "
            "model to see response.cancelled and the truncated item."
        ),
        "tags": ["onboarding", "voice", "vad"],
        "content": {
            "session": {
                "output_modalities": ["audio"],
                "instructions": (
                    "Answer at length: tell a long, detailed story of at least ten sentences, so the listener "
                    "has time to interrupt you. If interrupted, stop and answer the new question."
                ),
                "audio": {
                    "input": {
                        "turn_detection": {
                            "type": "server_vad",
                            "create_response": True,
                            "interrupt_response": True,
                        }
                    },
                    "output": {"voice": "marina"},
                },
            },
            "response": None,
            "conversation": [],
            "tool_outputs": {},
            "checks": [
                {
                    "name": "tells a story aloud",
                    "description": "Asked for a story, it speaks at length (long enough to be interrupted).",
                    "turns": [
                        {
                            "user": {"type": "text", "text": "Tell me a story about a lighthouse."},
                            "expect": [
                                COMPLETED,
                                {"type": "spoken_duration", "min_ms": 200},
                                {"type": "latency", "to": "first_audio", "max_ms": 8000},
                            ],
                        }
                    ],
                }
            ],
        },
    },
    {
        "slug": "vad-tuning",
        "name": "VAD tuning",
        "description": (
            "Server VAD with every knob explicit. threshold (0..1): how loud speech must be to count; raise it in "
            "a noisy room. prefix_padding_ms: audio kept from before speech started, so the first syllable is "
            "not cut. silence_duration_ms: how long a pause ends your turn; shorter answers sooner, longer lets "
            "you think aloud."
        ),
        "tags": ["onboarding", "voice", "vad"],
        "content": {
            "session": {
                "output_modalities": ["audio"],
                "instructions": (
                    "You help tune voice activity detection. Explain the three settings when asked: threshold "
                    "(0 to 1; higher needs louder speech, use it against background noise), prefix_padding_ms "
                    "(audio kept from before speech was detected, so the first word is not clipped), and "
                    "silence_duration_ms (the pause that ends a turn; shorter feels snappier, longer avoids "
                    "cutting the speaker off). Keep each answer short."
                ),
                "audio": {
                    "input": {
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 500,
                        }
                    },
                    "output": {"voice": "marina"},
                },
            },
            "response": None,
            "conversation": [],
            "tool_outputs": {},
            "checks": [
                {
                    "name": "a spoken question ends its turn",
                    "description": "A recorded question (an audio file) is cut into a turn by these VAD settings "
                    "and answered aloud.",
                    "turns": [
                        {
                            "user": _audio_file("pause-question.ogg"),
                            "expect": [
                                COMPLETED,
                                {"type": "spoken_duration", "min_ms": 200, "max_ms": 60000},
                                {"type": "latency", "to": "done", "max_ms": 15000},
                                NO_TOOL,
                            ],
                        }
                    ],
                }
            ],
        },
    },
]
