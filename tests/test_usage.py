"""Usage recorded from recordings (playground/usage/): a scripted emulator session's usage is the sum of its
recording's `response.done` usage and of its audio; prices are kept beside each figure; the backfill command
gives the same figures; the API's rows and the CSV say the same.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from decimal import Decimal
from typing import Any

import httpx
from channels.db import database_sync_to_async
from django.core.management import call_command

from playground.usage.api import csv_cell
from playground.usage.audio import audio_bytes
from playground.usage.models import UsageRecord
from tests.conftest import is_type
from tests.test_relay_path import create_session

RATE = 44100
MIC = b"\x10\x00" * 4410  # 100 ms of PCM16 at 44.1 kHz
ITEM_AUDIO = b"\x20\x00" * 2205  # 50 ms, in a conversation item


def say(text: str) -> dict[str, Any]:
    return {"item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


async def events_of(api: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    res = await api.get(f"/api/sessions/{sid}/events", params={"limit": 10_000})
    assert res.status_code == 200, res.text
    return list(res.json())


async def wait_for_records(sid: str, n: int, *, within: float = 10) -> list[UsageRecord]:
    """The live path accounts after the recorder wrote each response.done: give it a moment."""
    async with asyncio.timeout(within):
        while True:
            records = await database_sync_to_async(list)(UsageRecord.objects.filter(session_key=sid).order_by("seq"))
            if len(records) >= n:
                return records
            await asyncio.sleep(0.05)


async def scripted_session(api: httpx.AsyncClient, watch: Any, *, turns: int = 3) -> str:
    """An audio session: each turn appends 100 ms of microphone audio, adds a text item (the second turn also
    an item holding 50 ms of audio), asks for a response and waits for it; then it is closed."""
    session = await create_session(api, session={"output_modalities": ["audio"]})
    sid = session["id"]
    watcher = await watch(sid)
    for turn in range(turns):
        post = f"/api/sessions/{sid}/client-events/"
        assert (
            await api.post(post + "input_audio_buffer.append", json={"audio": base64.b64encode(MIC).decode()})
        ).status_code == 200
        assert (await api.post(post + "input_audio_buffer.clear", json={})).status_code == 200
        item = say(f"turn {turn} please")
        if turn == 1:
            item["item"]["content"].append({"type": "input_audio", "audio": base64.b64encode(ITEM_AUDIO).decode()})
        res = await api.post(post + "conversation.item.create", json=item)
        assert res.status_code == 200, res.text
        assert (await api.post(post + "response.create", json={})).status_code == 200
        await watcher.receive_until(lambda f, n=turn + 1: sum(is_type("response.done")(x) for x in watcher.frames) >= n)
        await wait_for_records(sid, turn + 1)
    assert (await api.post(f"/api/sessions/{sid}/close")).status_code == 200
    return sid


def recording_sums(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """What the recording itself says: response.done usage summed, audio bytes per side."""
    done = [f["event"]["response"] for f in frames if (f.get("event") or {}).get("type") == "response.done"]
    usage = [r["usage"] for r in done]
    audio_in = audio_out = 0
    for f in frames:
        event = f.get("event") or {}
        if f["direction"] == "client" and event.get("type") == "input_audio_buffer.append":
            audio_in += len(base64.b64decode(event["audio"]))
        elif f["direction"] == "client" and event.get("type") == "conversation.item.create":
            audio_in += sum(len(base64.b64decode(p["audio"])) for p in event["item"]["content"] if "audio" in p)
        elif f["direction"] == "server" and event.get("type") == "response.output_audio.delta":
            audio_out += len(base64.b64decode(event["delta"]))
    return {
        "responses": len(done),
        "ids": [r["id"] for r in done],
        "input_tokens": sum(u["input_tokens"] for u in usage),
        "output_tokens": sum(u["output_tokens"] for u in usage),
        "input_text_tokens": sum(u["input_token_details"]["text_tokens"] for u in usage),
        "input_audio_tokens": sum(u["input_token_details"]["audio_tokens"] for u in usage),
        "cached_tokens": sum(u["input_token_details"]["cached_tokens"] for u in usage),
        "output_text_tokens": sum(u["output_token_details"]["text_tokens"] for u in usage),
        "output_audio_tokens": sum(u["output_token_details"]["audio_tokens"] for u in usage),
        "audio_in_seconds": audio_in / 2 / RATE,
        "audio_out_seconds": audio_out / 2 / RATE,
    }


TOKENS = (
    "input_tokens",
    "output_tokens",
    "input_text_tokens",
    "input_audio_tokens",
    "cached_tokens",
    "output_text_tokens",
    "output_audio_tokens",
)


def expected_cost(sums: dict[str, Any], prices: dict[str, Any]) -> float:
    return (
        sums["input_text_tokens"] / 1000 * prices["textInputPer1kTokens"]
        + sums["output_text_tokens"] / 1000 * prices["textOutputPer1kTokens"]
        + sums["audio_in_seconds"] * prices["audioInputPerSecond"]
        + sums["audio_out_seconds"] * prices["audioOutputPerSecond"]
    )


async def test_a_scripted_sessions_usage_is_its_recordings_response_done_usage(
    api: httpx.AsyncClient, watch: Any, settings: Any
) -> None:
    sid = await scripted_session(api, watch)
    sums = recording_sums(await events_of(api, sid))
    assert sums["responses"] == 3 and sums["output_tokens"] > 0 and sums["audio_out_seconds"] > 0

    res = await api.get(f"/api/sessions/{sid}/usage")
    assert res.status_code == 200, res.text
    body = res.json()
    records = body["records"]
    # One record per response, in order, with the response's own id and usage; then the session's tail (none
    # here: no audio came after the last response, and the session had responses).
    assert [r["response_id"] for r in records] == sums["ids"]
    totals = body["totals"]
    assert totals["sessions"] == 1 and totals["responses"] == 3
    for name in TOKENS:
        assert totals[name] == sums[name], name
    assert abs(totals["audio_in_seconds"] - sums["audio_in_seconds"]) < 0.002
    assert abs(totals["audio_out_seconds"] - sums["audio_out_seconds"]) < 0.002
    prices = settings.PLAYGROUND_PRICES
    assert abs(totals["cost"] - expected_cost(sums, prices)) < 1e-4
    # The prices used are kept beside each figure.
    assert all(r["prices"] == prices and r["currency"] == prices["currency"] for r in records)
    # Each response carries the audio that came since the previous one: the microphone turn before it.
    assert abs(records[0]["audio_in_seconds"] - 0.1) < 0.001
    assert abs(records[1]["audio_in_seconds"] - 0.15) < 0.001

    # The same, summed for the whole deployment's view of me.
    mine = (await api.get("/api/usage", params={"group_by": "upstream"})).json()
    assert [(r["key"], r["sessions"], r["responses"]) for r in mine["rows"]] == [("emulator", 1, 3)]
    assert mine["totals"]["output_tokens"] == sums["output_tokens"]


async def test_prices_changed_later_rewrite_nothing_and_the_backfill_gives_the_same(
    api: httpx.AsyncClient, watch: Any, settings: Any
) -> None:
    sid = await scripted_session(api, watch, turns=2)
    before = (await api.get(f"/api/sessions/{sid}/usage")).json()
    settings.PLAYGROUND_PRICES = {**settings.PLAYGROUND_PRICES, "audioOutputPerSecond": 4.0}
    # Nothing lost: the command adds nothing to a session already accounted, and keeps its old prices.
    out = io.StringIO()
    await database_sync_to_async(call_command)("usage_backfill", stdout=out)
    assert "1/1 sessions (100%)" in out.getvalue()
    assert "0 new usage records" in out.getvalue()
    assert (await api.get(f"/api/sessions/{sid}/usage")).json() == before

    # A recording made before usage was recorded: the backfill gives what the live path gave, priced now.
    await database_sync_to_async(UsageRecord.objects.all().delete)()
    out = io.StringIO()
    await database_sync_to_async(call_command)("usage_backfill", stdout=out)
    assert "2 new usage records (2 responses, 0 for audio or sessions no response followed)" in out.getvalue()
    after = (await api.get(f"/api/sessions/{sid}/usage")).json()
    for name in (*TOKENS, "audio_in_seconds", "audio_out_seconds", "responses"):
        assert after["totals"][name] == before["totals"][name], name
    assert after["totals"]["cost"] > before["totals"]["cost"]
    assert all(r["prices"]["audioOutputPerSecond"] == 4.0 for r in after["records"])


async def test_audio_no_response_followed_is_the_sessions_tail(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api, session={"output_modalities": ["text"]})
    sid = session["id"]
    for _ in range(3):
        res = await api.post(
            f"/api/sessions/{sid}/client-events/input_audio_buffer.append",
            json={"audio": base64.b64encode(MIC).decode()},
        )
        assert res.status_code == 200
    assert (await api.post(f"/api/sessions/{sid}/close")).status_code == 200
    # Closing answers once the session's usage is recorded to its last event.
    body = (await api.get(f"/api/sessions/{sid}/usage")).json()
    assert [(r["response_id"], r["status"]) for r in body["records"]] == [("", "")]
    assert abs(body["totals"]["audio_in_seconds"] - 0.3) < 0.001
    assert body["totals"]["sessions"] == 1 and body["totals"]["responses"] == 0


def test_audio_counts_the_same_inline_or_as_a_media_reference() -> None:
    """Recordings that keep audio as media replace the base64 by {"$audio", "offset", "length"}."""
    raw = b"\x01\x02" * 3001
    assert audio_bytes(base64.b64encode(raw).decode()) == len(raw)
    assert audio_bytes({"$audio": "user", "offset": 1234, "length": len(raw)}) == len(raw)
    assert audio_bytes(None) == audio_bytes(12) == audio_bytes({"length": 5}) == 0


async def test_the_csv_says_what_the_api_says(api: httpx.AsyncClient, watch: Any) -> None:
    await scripted_session(api, watch, turns=2)
    # A preset whose name a spreadsheet would run: the CSV quotes it.
    preset = (await api.post("/api/presets", json={"name": "=SUM(1,2) trick"})).json()["id"]
    second = await api.post(f"/api/presets/{preset}/sessions", json={"upstream": "emulator"})
    assert second.status_code == 201, second.text
    await api.post(f"/api/sessions/{second.json()['id']}/close")
    cases = (
        {"group_by": "user"},
        {"group_by": "day"},
        {"group_by": "upstream", "interval": "week"},
        {"group_by": "preset"},
    )
    for params in cases:
        data = (await api.get("/api/usage", params=params)).json()
        res = await api.get("/api/usage.csv", params=params)
        assert res.status_code == 200, res.text
        assert res.headers["content-type"].startswith("text/csv")
        assert res.headers["content-disposition"].startswith('attachment; filename="usage-by-')
        rows = list(csv.DictReader(io.StringIO(res.text)))
        assert len(rows) == len(data["rows"]) >= 1
        for line, row in zip(rows, data["rows"], strict=True):
            assert line["label"] == csv_cell(row["label"]) and line["key"] == csv_cell(row["key"])
            assert line.get("period", "") == csv_cell(row["period"])
            for name in ("sessions", "responses", *TOKENS):
                assert int(line[name]) == row[name], name
            for name in ("audio_in_seconds", "audio_out_seconds", "cost"):
                assert Decimal(line[name]) == Decimal(str(row[name])), name
            assert line["currency"] == data["currency"]
    by_user = (await api.get("/api/usage", params={"group_by": "user"})).json()
    assert by_user["rows"][0]["sessions"] == 2  # the second session had no response: it counts, for nothing
    text = (await api.get("/api/usage.csv", params={"group_by": "preset"})).text
    quoted = [line for line in csv.DictReader(io.StringIO(text)) if line["key"] == preset]
    assert [line["label"] for line in quoted] == ["'=SUM(1,2) trick"], text


async def test_bad_input_names_the_field_and_changes_nothing(api: httpx.AsyncClient) -> None:
    cases = [
        ({"group_by": "colour"}, "group_by"),
        ({"from": "2025-13-01"}, "from"),
        ({"from": "2025-06-10", "to": "2025-06-01"}, "to"),
        ({"group_by": "day", "interval": "week"}, "interval"),
        ({"from": "1900-01-01"}, "from"),
    ]
    for params, field in cases:
        res = await api.get("/api/usage", params=params)
        assert res.status_code == 422, (params, res.text)
        assert res.json()["field"] == field, res.json()
        assert json.dumps(res.json()["detail"])


async def test_the_usage_api_is_in_the_openapi_schema(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/api/openapi.json")).json()
    usage = schema["paths"]["/api/usage"]["get"]
    params = {p["name"]: p for p in usage["parameters"]}
    assert set(params) >= {"group_by", "from", "to", "interval", "team", "user", "preset", "upstream"}
    assert {"user", "preset", "team", "upstream", "day"} <= set(params["group_by"]["schema"]["enum"])
    row = schema["components"]["schemas"]["UsageRowOut"]["properties"]
    assert {"sessions", "audio_in_seconds", "audio_out_seconds", "input_tokens", "output_tokens", "cost"} <= set(row)
    csv_answer = schema["paths"]["/api/usage.csv"]["get"]["responses"]["200"]
    assert "text/csv" in csv_answer["content"]
    assert {"/api/budgets", "/api/budgets/{budget_id}", "/api/sessions/{session_id}/usage"} <= set(schema["paths"])
