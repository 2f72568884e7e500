"""The judge (a Yandex text model over its OpenAI-compatible chat API) and SpeechKit's synthesis: never called
without credentials (the judge is then "not run", never passed), and their requests' shape checked against
a fake HTTP server on loopback. Credentials never reach a result, a recording or a log line."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from playground.checks.models import AssertionResult, CheckResult
from tests.check_helpers import only_result, preset_with_checks, run_checks, text_check
from tests.conftest import recorded_texts

KEY = "test-key-do-not-leak-8f2c"
FOLDER = "b1gfolder"
RUBRIC = "The assistant repeats what the user said."


@dataclass
class FakeYandex:
    """A loopback HTTP server answering each POST with `answer` (status, body), keeping what it was sent."""

    url: str
    answer: tuple[int, bytes, str] = (200, b"{}", "application/json")
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def fake_yandex() -> Iterator[FakeYandex]:
    fake = FakeYandex(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status, payload, kind = fake.answer
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def chat_answer(content: str) -> tuple[int, bytes, str]:
    body = {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }
    return 200, json.dumps(body).encode(), "application/json"


JUDGED = text_check("repeats", "Hello there", {"type": "response_status"}, {"type": "judge", "rubric": RUBRIC})


async def test_without_credentials_the_judge_is_not_run_and_never_passed(api: httpx.AsyncClient) -> None:
    preset = await preset_with_checks(api, [JUDGED])
    run = await run_checks(api, preset["id"])
    result = only_result(run)
    assert (run["passed"], run["incomplete"], run["failed"], run["errors"]) == (0, 1, 0, 0)
    assert result["status"] == "incomplete"
    judge = result["assertions"][1]
    assert judge["status"] == "not_run" and judge["label"] == f"judge: {RUBRIC}"
    assert judge["reason"].startswith("not run: the judge grades with a Yandex text model and needs YC_API_KEY")
    assert result["reason"] == f"1 assertion(s) not run: turn 1: judge: {RUBRIC}: {judge['reason']}"


async def test_the_judges_request_and_a_passing_verdict(api: httpx.AsyncClient, fake_yandex: FakeYandex) -> None:
    fake_yandex.answer = chat_answer('{"pass": true, "reason": "It repeats the greeting."}')
    preset = await preset_with_checks(api, [JUDGED])
    with override_settings(YC_API_KEY=KEY, YC_FOLDER_ID=FOLDER, PLAYGROUND_JUDGE_URL=fake_yandex.url + "/v1"):
        run = await run_checks(api, preset["id"], upstream="emulator")
    result = only_result(run)
    assert result["status"] == "passed", result
    assert result["assertions"][1]["reason"] == "the judge (yandexgpt/latest) says: It repeats the greeting."
    (request,) = fake_yandex.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Api-Key {KEY}"
    assert request["headers"]["OpenAI-Project"] == FOLDER
    body = json.loads(request["body"])
    assert body["model"] == f"gpt://{FOLDER}/yandexgpt/latest" and body["temperature"] == 0
    system, user = body["messages"]
    assert system["role"] == "system" and '{"pass": true or false' in system["content"]
    assert user["role"] == "user"
    assert user["content"] == (
        f'Rubric:\n{RUBRIC}\n\nConversation:\nUser: Hello there\nAssistant: You said: "Hello there".'
    )


async def test_a_failing_verdict_fails_the_check_with_the_judges_words(
    api: httpx.AsyncClient, fake_yandex: FakeYandex
) -> None:
    fake_yandex.answer = chat_answer('```json\n{"pass": false, "reason": "It only echoes."}\n```')
    preset = await preset_with_checks(api, [JUDGED])
    with override_settings(YC_API_KEY=KEY, YC_FOLDER_ID=FOLDER, PLAYGROUND_JUDGE_URL=fake_yandex.url + "/v1"):
        result = only_result(await run_checks(api, preset["id"], upstream="emulator"))
    assert result["status"] == "failed"
    assert result["reason"] == f"turn 1: judge: {RUBRIC}: the judge (yandexgpt/latest) says: It only echoes."


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ((401, f'{{"error": "bad key {KEY}"}}'.encode(), "application/json"), "the judge refused: HTTP 401"),
        (chat_answer("I think it is fine."), "the judge did not answer with a verdict"),
        ((200, b"not json", "text/plain"), "the judge's answer is not a chat completion"),
    ],
)
async def test_a_judge_that_gives_no_verdict_is_an_error_and_the_key_stays_secret(
    api: httpx.AsyncClient, fake_yandex: FakeYandex, answer: tuple[int, bytes, str], words: str
) -> None:
    fake_yandex.answer = answer
    preset = await preset_with_checks(api, [JUDGED])
    with override_settings(YC_API_KEY=KEY, YC_FOLDER_ID=FOLDER, PLAYGROUND_JUDGE_URL=fake_yandex.url + "/v1"):
        run = await run_checks(api, preset["id"], upstream="emulator")
    result = only_result(run)
    assert result["status"] == "error" and run["errors"] == 1
    assert result["assertions"][1]["status"] == "error" and words in result["assertions"][1]["reason"]
    assert KEY not in json.dumps(run)
    stored = await database_sync_to_async(
        lambda: [
            *CheckResult.objects.values_list("reason", flat=True),
            *AssertionResult.objects.values_list("reason", flat=True),
            *recorded_texts(),
        ]
    )()
    assert not any(KEY in text for text in stored)


async def test_speechkit_speaks_a_turn_when_asked_and_its_request(
    api: httpx.AsyncClient, fake_yandex: FakeYandex
) -> None:
    rate = 48000
    t = np.arange(rate // 2) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes()
    fake_yandex.answer = (200, pcm, "audio/x-pcm")
    check = {
        "name": "spoken by SpeechKit",
        "turns": [
            {
                "user": {"type": "tts", "text": "Привет", "engine": "speechkit", "voice": "alena"},
                "expect": [{"type": "response_status"}, {"type": "text_matches", "pattern": r"speech 0\.[45]\d s"}],
            }
        ],
    }
    preset = await preset_with_checks(api, [check])
    tts = fake_yandex.url + "/speech/v1/tts:synthesize"
    with override_settings(YC_API_KEY=KEY, YC_FOLDER_ID=FOLDER, PLAYGROUND_SPEECHKIT_TTS_URL=tts):
        result = only_result(await run_checks(api, preset["id"], upstream="emulator"))
    assert result["status"] == "passed", result
    assert result["turns"][0]["said"] == "Привет (spoken by SpeechKit (voice alena))"
    (request,) = fake_yandex.requests
    assert request["path"] == "/speech/v1/tts:synthesize"
    assert request["headers"]["Authorization"] == f"Api-Key {KEY}"
    form = {k: v[0] for k, v in parse_qs(request["body"].decode()).items()}
    assert form == {
        "text": "Привет",
        "voice": "alena",
        "lang": "ru-RU",
        "format": "lpcm",
        "sampleRateHertz": "48000",
        "folderId": FOLDER,
    }


async def test_speechkit_without_credentials_is_an_error_in_words(api: httpx.AsyncClient) -> None:
    check = {
        "name": "spoken by SpeechKit",
        "turns": [
            {"user": {"type": "tts", "text": "Hi", "engine": "speechkit"}, "expect": [{"type": "response_status"}]}
        ],
    }
    preset = await preset_with_checks(api, [check])
    result = only_result(await run_checks(api, preset["id"]))
    assert result["status"] == "error" and result["session"] is None
    assert result["reason"] == (
        "its audio could not be made: SpeechKit needs Yandex credentials: set YC_API_KEY or YC_IAM_TOKEN, "
        "and YC_FOLDER_ID."
    )
