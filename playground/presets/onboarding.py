"""The builtin onboarding presets, loaded by `manage.py load_onboarding_presets` (idempotent by slug)."""

from __future__ import annotations

from typing import Any

WEATHER_OUTPUT = '{"temp_c": 3, "sky": "snow"}'

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
        },
    },
]
