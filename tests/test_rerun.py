"""Re-run: a recording's client events sent again in a new session, turn by turn; then both compared."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from playground.realtime.runtime.frames import Frame
from playground.recordings import services as rerun_services
from tests.conftest import is_type, recorded_events
from tests.test_relay_path import create_session

QUESTIONS = ("hello there", "what is the weather like")


def user_says(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


@pytest.fixture(autouse=True)
async def _stop_reruns() -> AsyncIterator[None]:
    yield
    await rerun_services.reruns_shutdown()


async def record_two_turns(api: httpx.AsyncClient, watch: Any) -> str:
    session = await create_session(api, session={"output_modalities": ["text"], "instructions": "Be brief."})
    sid = session["id"]
    watcher = await watch(sid)
    for number, text in enumerate(QUESTIONS, start=1):
        assert (
            await api.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json=user_says(text))
        ).status_code == 200
        assert (await api.post(f"/api/sessions/{sid}/client-events/response.create", json={})).status_code == 200
        await watcher.receive_until(lambda f, n=number: sum(is_type("response.done")(x) for x in watcher.frames) >= n)
    # A barge-in leftover the re-run leaves out (there is nothing to cancel once a response is done).
    await api.post(f"/api/sessions/{sid}/client-events/response.cancel", json={})
    assert (await api.post(f"/api/sessions/{sid}/close")).status_code == 200
    return sid


async def wait_for_rerun(sid: str, responses: int, within: float = 60) -> list[Any]:
    async with asyncio.timeout(within):
        while True:
            rows = await recorded_events(sid)
            if sum(1 for r in rows if r.type == "response.done") >= responses and not rerun_services._running:
                return rows
            await asyncio.sleep(0.05)


def client_events(rows: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.data) for r in rows if r.direction == "client"]


async def test_rerun_sends_the_user_turns_again_one_response_at_a_time(
    api: httpx.AsyncClient, watch: Any, settings: Any
) -> None:
    # A paced emulator (about 60 ms a response): a re-run that did not wait would overlap the turns.
    settings.PLAYGROUND_EMULATOR_PACE = 200
    original = await record_two_turns(api, watch)
    res = await api.post(f"/api/sessions/{original}/rerun")
    assert res.status_code == 201, res.text
    rerun = res.json()
    assert rerun["id"] != original
    assert rerun["upstream"] == "emulator"
    assert rerun["config"] == {"output_modalities": ["text"], "instructions": "Be brief."}
    assert rerun["ws_url"] == f"ws://testserver/ws/sessions/{rerun['id']}/"

    rows = await wait_for_rerun(rerun["id"], responses=2)
    old = client_events(await recorded_events(original))
    new = client_events(rows)
    # Same user turns, same order; the initial session.update once; the cancel left out; fresh event ids.
    assert [e["type"] for e in new] == [
        "session.update",
        "conversation.item.create",
        "response.create",
        "conversation.item.create",
        "response.create",
    ]
    assert [e["item"] for e in new if e["type"] == "conversation.item.create"] == [
        e["item"] for e in old if e["type"] == "conversation.item.create"
    ]
    assert new[0]["session"] == old[0]["session"]
    assert not {e["event_id"] for e in new} & {e["event_id"] for e in old}

    # Each event after a response.create waits for that response's response.done: by seq and by time.
    creates = [r for r in rows if r.direction == "client" and r.type == "response.create"]
    dones = [r for r in rows if r.direction == "server" and r.type == "response.done"]
    assert len(creates) == len(dones) == 2
    second_item = [r for r in rows if r.direction == "client" and r.type == "conversation.item.create"][1]
    assert creates[0].seq < dones[0].seq < second_item.seq < creates[1].seq < dones[1].seq
    assert dones[0].ts <= second_item.ts <= creates[1].ts
    assert not [r for r in rows if r.type == "error"]
    assert dones[0].ts - creates[0].ts > 0.02  # the pace really made the first answer take a while


async def test_compare_shows_both_sides_turn_by_turn(api: httpx.AsyncClient, watch: Any) -> None:
    original = await record_two_turns(api, watch)
    rerun = (await api.post(f"/api/sessions/{original}/rerun")).json()
    await wait_for_rerun(rerun["id"], responses=2)

    res = await api.get(f"/api/sessions/{original}/compare/{rerun['id']}")
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["left"]["id"] == original and data["right"]["id"] == rerun["id"]
    assert data["left"]["state"] == "ended" and data["right"]["state"] == "live"
    for side in ("left", "right"):
        turns = data[side]["turns"]
        assert len(turns) == 2
        assert [t["user"] for t in turns] == list(QUESTIONS)
        assert [t["answer"] for t in turns] == [f'You said: "{q}".' for q in QUESTIONS]
        for turn in turns:
            assert turn["status"] == "completed"
            assert 0 <= turn["first_delta_ms"] <= turn["done_ms"] < 10_000
            assert turn["usage"]["input_tokens"] > 0 and turn["usage"]["output_tokens"] > 0
            assert turn["usage"]["total_tokens"] == turn["usage"]["input_tokens"] + turn["usage"]["output_tokens"]
        totals = data[side]["totals"]
        assert totals["turns"] == totals["completed"] == 2
        assert totals["output_tokens"] == sum(t["usage"]["output_tokens"] for t in turns)
        assert totals["done_ms_mean"] is not None and totals["first_delta_ms_mean"] is not None
    # The emulator is deterministic: the same questions give the same answers, so the diff is empty.
    assert [d["same"] for d in data["diffs"]] == [True, True]
    assert all(d["unified"] == "" for d in data["diffs"])
    assert data["totals"]["same_answers"] == 2 and data["totals"]["different_answers"] == 0
    assert data["totals"]["delta"]["output_tokens"] == 0


async def test_compare_diffs_different_answers(api: httpx.AsyncClient, watch: Any) -> None:
    first = await create_session(api)
    second = await create_session(api)
    for sid, text in ((first["id"], "hello there"), (second["id"], "hello over there")):
        watcher = await watch(sid)
        await api.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json=user_says(text))
        await api.post(f"/api/sessions/{sid}/client-events/response.create", json={})
        await watcher.receive_until(is_type("response.done"))
        await api.post(f"/api/sessions/{sid}/close")  # answers once the recording is complete
    data = (await api.get(f"/api/sessions/{first['id']}/compare/{second['id']}")).json()
    diff = data["diffs"][0]
    assert not diff["same"]
    assert '-You said: "hello there".' in diff["unified"]
    assert '+You said: "hello over there".' in diff["unified"]
    assert {"op": "insert", "left": "", "right": "over "} in diff["words"]
    assert data["totals"]["delta"]["output_tokens"] == 1


async def test_rerun_and_compare_of_someone_elses_session_are_404(
    api: httpx.AsyncClient, application: Any, other_token: str
) -> None:
    session = await create_session(api)
    mine = await create_session(api)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {other_token}"},
    ) as mallory:
        assert (await mallory.post(f"/api/sessions/{session['id']}/rerun")).status_code == 404
        assert (await mallory.get(f"/api/sessions/{session['id']}/compare/{mine['id']}")).status_code == 404
        assert (await mallory.get(f"/api/sessions/{mine['id']}/compare/{session['id']}")).status_code == 404
    assert not rerun_services._running


async def test_rerun_and_compare_of_a_bad_id_are_404(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    assert (await api.post("/api/sessions/not-a-uuid/rerun")).status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    res = await api.post(f"/api/sessions/{missing}/rerun")
    assert res.status_code == 404
    assert res.json()["detail"] == f"No session {missing}."
    assert (await api.get(f"/api/sessions/{session['id']}/compare/{missing}")).status_code == 404
    assert (await api.get(f"/api/sessions/{missing}/compare/{session['id']}")).status_code == 404
    assert (await api.get(f"/api/sessions/{session['id']}/compare/nope")).status_code == 404


async def test_rerun_on_another_upstream_than_asked_is_refused(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    res = await api.post(f"/api/sessions/{session['id']}/rerun", json={"upstream": "mars"})
    assert res.status_code == 422
    assert res.json()["field"] == "upstream"


WEATHER_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


async def test_rerun_of_a_function_call_sends_the_tool_output_to_the_new_call(
    api: httpx.AsyncClient, watch: Any
) -> None:
    session = await create_session(api, session={"output_modalities": ["text"], "tools": WEATHER_TOOLS})
    sid = session["id"]
    watcher = await watch(sid)
    await api.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json=user_says("weather in Paris"))
    await api.post(f"/api/sessions/{sid}/client-events/response.create", json={})
    frames = await watcher.receive_until(is_type("response.function_call_arguments.done"))
    call_id = next(f["event"]["call_id"] for f in frames if is_type("response.function_call_arguments.done")(f))
    await watcher.receive_until(is_type("response.done"))
    output = {"type": "function_call_output", "call_id": call_id, "output": "sunny, 21 C"}
    await api.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json={"item": output})
    await api.post(f"/api/sessions/{sid}/client-events/response.create", json={})
    await watcher.receive_until(lambda f: sum(is_type("response.done")(x) for x in watcher.frames) >= 2)

    # Still live, and re-run right after the last turn: the re-run waits for the recording to catch up.
    rerun = (await api.post(f"/api/sessions/{sid}/rerun")).json()
    rows = await wait_for_rerun(rerun["id"], responses=2)
    assert not [r for r in rows if r.type == "error"]
    data = (await api.get(f"/api/sessions/{sid}/compare/{rerun['id']}")).json()
    for side in ("left", "right"):
        answers = [t["answer"] for t in data[side]["turns"]]
        assert answers[0].startswith("get_weather(") and "Paris" in answers[0]
        assert answers[1] == "The tool answered: sunny, 21 C."
        assert data[side]["turns"][1]["user"] == "(tool output) sunny, 21 C"


def test_translate_ids_maps_the_originals_items_and_calls_by_position() -> None:
    def added(seq: int, item: dict[str, Any]) -> Frame:
        return Frame(
            seq=seq, direction="server", ts=0.0, type="conversation.item.added", data=json.dumps({"item": item})
        )

    original = rerun_services._Ids.of(
        [added(1, {"id": "old_1"}), added(2, {"id": "old_2", "type": "function_call", "call_id": "call_old"})]
    )
    rerun = rerun_services._Ids.of(
        [added(1, {"id": "new_1"}), added(2, {"id": "new_2", "type": "function_call", "call_id": "call_new"})]
    )
    event: dict[str, Any] = {"type": "conversation.item.retrieve", "item_id": "old_2"}
    assert rerun_services.translate_ids(event, original, rerun)["item_id"] == "new_2"
    event = {
        "type": "conversation.item.create",
        "previous_item_id": "old_1",
        "item": {"type": "function_call_output", "call_id": "call_old", "output": "x"},
    }
    out = rerun_services.translate_ids(event, original, rerun)
    assert out["previous_item_id"] == "new_1" and out["item"]["call_id"] == "call_new"
    # Ids the original never announced (the client's own) stay as they are.
    event = {"type": "conversation.item.delete", "item_id": "my_item"}
    assert rerun_services.translate_ids(event, original, rerun)["item_id"] == "my_item"


def test_replay_leaves_out_what_makes_no_sense_again() -> None:
    class Original:
        config = {"output_modalities": ["text"]}

    def client(seq: int, event: dict[str, Any]) -> Frame:
        return Frame(seq=seq, direction="client", ts=0.0, type=event["type"], data=json.dumps(event))

    frames = [
        Frame(seq=1, direction="server", ts=0.0, type="session.created", data="{}"),
        client(2, {"type": "session.update", "event_id": "e1", "session": {"output_modalities": ["text"]}}),
        client(3, {"type": "response.create", "event_id": "e2"}),
        client(4, {"type": "response.cancel", "event_id": "e3"}),
        client(
            5,
            {
                "type": "conversation.item.truncate",
                "event_id": "e4",
                "item_id": "i",
                "content_index": 0,
                "audio_end_ms": 10,
            },
        ),
        client(6, {"type": "output_audio_buffer.clear", "event_id": "e5"}),
        client(7, {"type": "session.update", "event_id": "e6", "session": {"instructions": "Shorter."}}),
    ]
    events = rerun_services.replay_events(original=Original(), frames=frames)  # type: ignore[arg-type]
    assert events == [{"type": "response.create"}, {"type": "session.update", "session": {"instructions": "Shorter."}}]
