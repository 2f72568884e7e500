"""The judge: a rubric graded by a Yandex text model through its OpenAI-compatible chat API.

POST `{PLAYGROUND_JUDGE_URL}/chat/completions` with the model `gpt://<folder>/<PLAYGROUND_JUDGE_MODEL>`,
`Authorization: Api-Key …` (or `Bearer <IAM token>`) and `OpenAI-Project: <folder>` (what the openai SDK sends
when given the folder as its project, as Yandex's documentation configures it). Temperature 0, a JSON answer
`{"pass": true|false, "reason": "…"}`.

Without credentials nothing is sent and the assertion is "not run", in words: never passed. A judge that
does not answer, or answers something that is not a verdict, is an error (the check errs, and CI fails),
since a rubric nobody graded cannot be counted as met. Credentials never reach a reason: the upstream's
redaction rules (upstreams/yandex.py) apply.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from django.conf import settings

from playground.realtime.upstreams.yandex import auth_header, model_uri

from .assertions import Verdict
from .models import AssertionStatus

JUDGE_TIMEOUT_S = 60.0
SYSTEM_PROMPT = (
    "You grade a voice assistant's conversation against a rubric. Read the rubric and the conversation, then "
    'answer with one JSON object and nothing else: {"pass": true or false, "reason": "one or two sentences '
    'saying why, quoting the assistant where it helps"}. Grade only what the rubric asks; the transcript of '
    "speech may have small recognition errors."
)
NOT_RUN = (
    "not run: the judge grades with a Yandex text model and needs YC_API_KEY or YC_IAM_TOKEN with YC_FOLDER_ID; "
    "they are not set here, so nothing was graded"
)


def judge_available() -> bool:
    return bool((settings.YC_API_KEY or settings.YC_IAM_TOKEN) and settings.YC_FOLDER_ID)


def judge_model() -> str:
    return model_uri(model=settings.PLAYGROUND_JUDGE_MODEL, folder_id=settings.YC_FOLDER_ID)


def judge_request(*, rubric: str, conversation: str) -> dict[str, Any]:
    """The chat completion request's body."""
    return {
        "model": judge_model(),
        "temperature": 0,
        "max_tokens": 500,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Rubric:\n{rubric}\n\nConversation:\n{conversation}"},
        ],
    }


def _redacted(text: str) -> str:
    for secret in (settings.YC_API_KEY, settings.YC_IAM_TOKEN):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _error(words: str) -> Verdict:
    return Verdict(AssertionStatus.ERROR, _redacted(words))


def verdict_parse(content: str) -> tuple[bool, str] | None:
    """(passed, reason) from the model's answer: the JSON object asked for (possibly in a code fence)."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pass"), bool):
        return None
    return data["pass"], str(data.get("reason") or "").strip()


async def judge_grade(*, rubric: str, conversation: str, seq: int | None) -> Verdict:
    if not judge_available():
        return Verdict(AssertionStatus.NOT_RUN, NOT_RUN, seq)
    headers = {
        "Authorization": auth_header(api_key=settings.YC_API_KEY, iam_token=settings.YC_IAM_TOKEN),
        "OpenAI-Project": settings.YC_FOLDER_ID,
    }
    url = f"{settings.PLAYGROUND_JUDGE_URL}/chat/completions"
    try:
        async with httpx.AsyncClient(timeout=JUDGE_TIMEOUT_S) as client:
            res = await client.post(url, json=judge_request(rubric=rubric, conversation=conversation), headers=headers)
    except httpx.HTTPError as exc:
        return _error(f"the judge did not answer ({type(exc).__name__}: {exc}); the rubric was not graded")
    if res.status_code != 200:
        return _error(f"the judge refused: HTTP {res.status_code}: {res.text[:300]}; the rubric was not graded")
    try:
        content = res.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return _error(f"the judge's answer is not a chat completion: {res.text[:300]}")
    parsed = verdict_parse(str(content or ""))
    if parsed is None:
        return _error(f"the judge did not answer with a verdict: {str(content)[:300]}")
    passed, reason = parsed
    who = f"the judge ({settings.PLAYGROUND_JUDGE_MODEL})"
    status = AssertionStatus.PASSED if passed else AssertionStatus.FAILED
    return Verdict(status, _redacted(f"{who} says: {reason or ('met' if passed else 'not met')}"), seq)


def conversation_text(turns: list[Any]) -> str:
    """The conversation so far, for the judge: who said what, calls and their canned outputs."""
    lines = []
    for turn in turns:
        if turn.said:
            heard = f" (heard as: {turn.heard})" if turn.heard and turn.heard not in turn.said else ""
            lines.append(f"User: {turn.said}{heard}")
        for call in turn.calls:
            lines.append(f"Assistant called {call.name}({call.arguments})")
        if turn.text:
            lines.append(f"Assistant: {turn.text}")
    return "\n".join(lines)
