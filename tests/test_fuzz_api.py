"""The whole REST API fuzzed from its own OpenAPI schema with schemathesis, on real data.

The data (`seed_data`): a team with a member and a viewer who joined by invitation links and an open
invitation, a preset with three versions and a share link, recordings with a conversation in them (one
shared by link). Three tests, every one with the checks below (never a 5xx, only declared status codes,
the declared content type and schema, and words in every 4xx):

1. `test_malformed_path_ids` (deterministic): every path parameter of every operation, in turn, set to
   each malformed value in ODD_IDS while the others name real objects (a real team with a junk invitation
   id): 404 or 422, in words.
2. `test_operation_fuzzed` (per operation): positive and negative cases, then cases where each path
   parameter independently names a real object or is generated. An operation for which schemathesis can
   draw no case fails the test, unless CANNOT_BREAK says why.
3. `test_stateful_on_real_data`: schemathesis' state machine, its links inferred from the schema (plus
   the share and invitation tokens, which hide in URLs), chaining real ids from one answer into the next.

Requests go through httpx on the test's event loop (where the application and its relays live);
hypothesis draws the cases in a worker thread, derandomized, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from channels.db import database_sync_to_async
from django.test import override_settings
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from playground.accounts.services import api_token_create, user_get_or_create
from playground.asgi import application as _application
from tests.check_helpers import preset_with_checks, run_checks, text_check
from tests.test_relay_path import USER_SAYS, create_session

SCHEMA = schemathesis.openapi.from_asgi("/api/openapi.json", _application)


def _operations() -> dict[str, Any]:
    operations = {}
    for result in SCHEMA.get_all_operations():
        assert isinstance(result, Ok), f"the schema has an operation schemathesis cannot read: {result.err()}"
        operations[result.ok().label] = result.ok()
    return operations


OPERATIONS = _operations()

EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 6}
MIXED_EXAMPLES = 8
# Malformed path ids: not an id at all, a number, one too big for any column, a well-formed unknown UUID,
# a non-ASCII one, a long one.
ODD_IDS = ["0", "not-an-id", "99999999999999999999", "00000000-0000-0000-0000-000000000000", "é", "x" * 300]
# Negative mode needs a way to break a request's schema; these operations have none, each for its reason.
CANNOT_BREAK = {
    "GET /api/upstreams": "no parameters and no body",
    "GET /api/teams": "no parameters and no body",
    "GET /api/shared/sessions/{token}": "its one parameter is a free-form string",
    "GET /api/shared/presets/{token}": "its one parameter is a free-form string",
    "GET /api/shared/presets/{token}/export": "its one parameter is a free-form string",
    "POST /api/shared/presets/{token}/fork": "its one parameter is a free-form string",
    "GET /api/invitations/{token}": "its one parameter is a free-form string",
    "POST /api/invitations/{token}/accept": "its one parameter is a free-form string",
    "GET /api/sessions/{session_id}": "its one parameter is a free-form string",
    "DELETE /api/sessions/{session_id}": "its one parameter is a free-form string",
    "POST /api/sessions/{session_id}/close": "its one parameter is a free-form string",
    "POST /api/sessions/{session_id}/resume": "its one parameter is a free-form string",
    "POST /api/sessions/{session_id}/share": "its one parameter is a free-form string",
    "DELETE /api/sessions/{session_id}/share": "its one parameter is a free-form string",
    "GET /api/presets/{preset_id}": "its one parameter is a free-form string",
    "DELETE /api/presets/{preset_id}": "its one parameter is a free-form string",
    "POST /api/presets/{preset_id}/share": "its one parameter is a free-form string",
    "DELETE /api/presets/{preset_id}/share": "its one parameter is a free-form string",
    "POST /api/presets/{preset_id}/restore": "its one parameter is a free-form string",
    "GET /api/presets/{preset_id}/versions": "its one parameter is a free-form string",
    "POST /api/presets/{preset_id}/fork": "its one parameter is a free-form string",
    "GET /api/presets/{preset_id}/export": "its one parameter is a free-form string",
    "GET /api/sessions/{session_id}/compare/{other_id}": "its two parameters are free-form strings",
    "DELETE /api/teams/{team_id}": "its one parameter is a free-form string",
    "GET /api/teams/{team_id}": "its one parameter is a free-form string",
    "DELETE /api/teams/{team_id}/members/{username}": "its two parameters are free-form strings",
    "DELETE /api/teams/{team_id}/invitations/{invitation_id}": "its two parameters are free-form strings",
    "GET /api/presets/{preset_id}/checks": "its one parameter is a free-form string",
    "GET /api/check-runs/{run_id}": "its one parameter is a free-form string",
    "POST /api/check-runs/{run_id}/cancel": "its one parameter is a free-form string",
    "GET /api/budgets": "no parameters and no body",
    "DELETE /api/budgets/{budget_id}": "its one parameter is a free-form string",
    "GET /api/sessions/{session_id}/usage": "its one parameter is a free-form string",
}


def detail_on_4xx(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every refusal is JSON `{"detail": words, "field": …}`."""
    if 400 <= response.status_code < 500:
        try:
            body = json.loads(response.content)
        except ValueError:
            raise AssertionError(f"{response.status_code} is not JSON: {response.content[:200]!r}") from None
        if not (isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"].strip()):
            raise AssertionError(f"{response.status_code} without a `detail`: {response.content[:300]!r}")
        if "field" not in body:
            raise AssertionError(f"{response.status_code} without a `field`: {response.content[:300]!r}")
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    detail_on_4xx,
]


def to_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request schemathesis would send (requests-style keywords) as httpx keywords."""
    out: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params"),
    }
    if kwargs.get("cookies"):
        out["headers"] = {**out["headers"], "Cookie": "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())}
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, dict):
        out["data"] = data
    elif data is not None:
        out["content"] = data
    return out


def token_of(url: str | None) -> str:
    assert url, "a share or invitation url"
    return url.rstrip("/").rsplit("/", 1)[1]


async def seed_data(api: httpx.AsyncClient) -> dict[str, list[Any]]:
    """Real objects for the path parameters to name: a team with members and invitations, a preset with
    versions and a share link, recordings with a conversation in them."""
    preset = await api.post("/api/presets", json={"name": "Fuzzed", "content": {"session": {"instructions": "1"}}})
    assert preset.status_code == 201, preset.text
    preset_id = preset.json()["id"]
    for n in (2, 3):
        res = await api.put(f"/api/presets/{preset_id}", json={"content": {"session": {"instructions": str(n)}}})
        assert res.status_code == 200, res.text
    shared_preset = (await api.post(f"/api/presets/{preset_id}/share")).json()
    # A preset with a check, run once to its end: a check run to name.
    checked = await preset_with_checks(api, [text_check("answers", "Hello", {"type": "response_status"})])
    check_run = await run_checks(api, checked["id"])

    recorded = await create_session(api)
    for type_, body in (("conversation.item.create", USER_SAYS), ("response.create", {})):
        res = await api.post(f"/api/sessions/{recorded['id']}/client-events/{type_}", json=body)
        assert res.status_code == 200, res.text
    await asyncio.sleep(0.3)  # the emulator answers at once; the recorder writes within a batch or two
    assert (await api.post(f"/api/sessions/{recorded['id']}/close")).status_code == 200
    other = await create_session(api)
    assert (await api.post(f"/api/sessions/{other['id']}/close")).status_code == 200
    shared_session = (await api.post(f"/api/sessions/{recorded['id']}/share")).json()

    team = (await api.post("/api/teams", json={"name": "Fuzzers"})).json()
    joined = []
    for username, role in (("bob", "member"), ("carol", "viewer")):
        invitation = (await api.post(f"/api/teams/{team['id']}/invitations", json={"role": role})).json()
        token = await database_sync_to_async(
            lambda u=username: api_token_create(user=user_get_or_create(username=u)[0])
        )()
        res = await api.post(
            f"/api/invitations/{token_of(invitation['url'])}/accept", headers={"Authorization": f"Bearer {token}"}
        )
        assert res.status_code == 200, res.text
        joined.append(invitation)
    open_invitation = (await api.post(f"/api/teams/{team['id']}/invitations", json={"role": "viewer"})).json()
    budget = await api.post("/api/budgets", json={"team": team["id"], "cost_limit": 1000, "audio_minutes_limit": 600})
    assert budget.status_code == 201, budget.text
    return {
        "preset_id": [preset_id, checked["id"]],
        "run_id": [check_run["id"]],
        "session_id": [recorded["id"], other["id"]],
        "other_id": [other["id"], recorded["id"]],
        "team_id": [team["id"]],
        "invitation_id": [open_invitation["id"], joined[0]["id"]],
        "username": ["bob", "carol", "alice"],
        "number": [1, 2, 3],
        "budget_id": [budget.json()["id"]],
        "side": ["user", "assistant", "items"],  # a recording's audio streams
        "token": [
            token_of(shared_preset.get("share_url")),
            token_of(shared_session.get("share_url")),
            token_of(open_invitation.get("url")),
        ],
    }


FUZZ_SETTINGS = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


class Caller:
    """Sends a schemathesis case from hypothesis' thread through httpx on the test's loop, then checks it."""

    def __init__(self, api: httpx.AsyncClient, token: str, loop: asyncio.AbstractEventLoop) -> None:
        self.api, self.loop = api, loop
        self.auth = {"Authorization": f"Bearer {token}"}
        self.sent: list[tuple[str, int]] = []

    def send(self, case: Any) -> Any:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=self.auth)
        request = to_httpx(kwargs)
        response = asyncio.run_coroutine_threadsafe(self.api.request(**request), self.loop).result(timeout=60)
        self.sent.append((case.operation.label, response.status_code))
        return response, request, kwargs

    def call(self, case: Any) -> None:
        response, request, kwargs = self.send(case)
        case.validate_response(response, checks=CHECKS, headers=request["headers"], transport_kwargs=kwargs)


@pytest.fixture
async def caller(api: httpx.AsyncClient, token: str) -> Caller:
    return Caller(api, token, asyncio.get_running_loop())


def _run(caller: Caller, strategy: st.SearchStrategy[Any], examples: int) -> Callable[[], None]:
    @settings(FUZZ_SETTINGS, max_examples=examples)
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        caller.call(case)

    return fuzz


def _once(caller: Caller, strategy: st.SearchStrategy[Any], what: str) -> Callable[[], None]:
    @settings(FUZZ_SETTINGS, max_examples=1)
    @given(case=strategy)
    def once(case: Any) -> None:
        response, request, kwargs = caller.send(case)
        case.validate_response(response, checks=CHECKS, headers=request["headers"], transport_kwargs=kwargs)
        assert response.status_code in (404, 422), f"{what}: {response.status_code} {response.text[:300]}"

    return once


async def _malformed_path_ids(caller: Caller, operation: Any, real: dict[str, list[Any]]) -> None:
    """Each path parameter in turn malformed, the others real: 404 or 422 in words, never a 5xx."""
    names = [p.name for p in operation.path_parameters]
    for name in names:
        for odd in ODD_IDS:
            values = {n: real[n][0] for n in names} | {name: odd}
            strategy = operation.as_strategy(GenerationMode.POSITIVE, headers=caller.auth, path_parameters=values)

            await asyncio.to_thread(_once(caller, strategy, f"{operation.label} with {name}={odd!r}"))


def _mixed(names: list[str], real: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Path parameters where each one on its own either names a real object or is left to generate."""
    choices: list[dict[str, Any]] = []
    for mask in range(2 ** len(names)):
        for i in range(max(len(real[n]) for n in names)):
            choice = {n: real[n][i % len(real[n])] for k, n in enumerate(names) if mask >> k & 1}
            if choice not in choices:
                choices.append(choice)
    return choices


@pytest.mark.parametrize("label", sorted(OPERATIONS))
async def test_operation_fuzzed_on_real_data(api: httpx.AsyncClient, caller: Caller, label: str) -> None:
    operation = OPERATIONS[label]
    real = await seed_data(api)
    names = [p.name for p in operation.path_parameters]
    assert all(n in real for n in names), f"seed_data() has no real value for a path parameter of {label}"
    if names:
        await _malformed_path_ids(caller, operation, real)
    unsatisfiable = []
    for mode, examples in EXAMPLES.items():
        try:
            await asyncio.to_thread(_run(caller, operation.as_strategy(mode, headers=caller.auth), examples))
        except Unsatisfiable:
            unsatisfiable.append(mode)
    if unsatisfiable or label in CANNOT_BREAK:
        assert unsatisfiable == [GenerationMode.NEGATIVE] and label in CANNOT_BREAK, (
            f"{label}: no case could be drawn in {unsatisfiable} mode; CANNOT_BREAK says {CANNOT_BREAK.get(label)!r}"
        )
    if names:
        mixed = st.one_of(
            [
                operation.as_strategy(GenerationMode.POSITIVE, headers=caller.auth, path_parameters=c)
                for c in _mixed(names, real)
            ]
        )
        await asyncio.to_thread(_run(caller, mixed, MIXED_EXAMPLES))
    assert any(op == label for op, _ in caller.sent), f"no request was made for {label}"


# --- stateful ----------------------------------------------------------------------------------------------

# The share and invitation tokens are inside URLs (`share_url`, `url`): links schemathesis cannot infer.
_TOKEN_LINKS = [
    ("POST", "/api/presets/{preset_id}/share", "200", "/share_url#regex:/s/p/([^/]+)/", "/api/shared/presets/{token}"),
    (
        "POST",
        "/api/sessions/{session_id}/share",
        "200",
        "/share_url#regex:/s/r/([^/]+)/",
        "/api/shared/sessions/{token}",
    ),
    ("POST", "/api/teams/{team_id}/invitations", "201", "/url#regex:/invite/([^/]+)/", "/api/invitations/{token}"),
]
STATEFUL_SCENARIOS = 40
STATEFUL_STEPS = 8
STATEFUL_SUITES = 20
STATEFUL_CALLS = 400
STATEFUL_LINKED_OPERATIONS = 10


def _linked_schema() -> Any:
    raw = json.loads(json.dumps(SCHEMA.raw_schema))
    for method, path, status, pointer, prefix in _TOKEN_LINKS:
        response = raw["paths"][path][method.lower()]["responses"][status]
        links = response.setdefault("links", {})
        for target_path, item in raw["paths"].items():
            if not target_path.startswith(prefix):
                continue
            for target_method, target in item.items():
                links[f"token_{target['operationId']}"] = {
                    "operationId": target["operationId"],
                    "parameters": {"token": f"$response.body#{pointer}"},
                }
                assert target_method in ("get", "post"), target_path
    return schemathesis.openapi.from_dict(raw)


@override_settings(PLAYGROUND_MAX_LIVE_SESSIONS=1000)  # the per-user limits stay: a runaway chain gets its 429s
async def test_stateful_on_real_data(api: httpx.AsyncClient, caller: Caller) -> None:
    """Chains of calls on the seeded data and on what each call creates; ids flow from answers to requests."""
    await seed_data(api)
    base = _linked_schema().as_state_machine()
    failures: list[str] = []

    class Machine(base):  # type: ignore[valid-type, misc]
        def call(self, case: Any, **kwargs: Any) -> Any:
            response, request, transport = caller.send(case)
            self._request = (request, transport)
            return Response.from_any(response)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            # Collected, not raised: the data is real and changes under the machine, so hypothesis could not
            # replay a failing scenario (it would call the replay flaky and hide the failure).
            request, transport = self._request
            try:
                case.validate_response(response, checks=CHECKS, headers=request["headers"], transport_kwargs=transport)
            except Exception as exc:
                failures.append(f"{case.operation.label} -> {response.status_code}: {str(exc)[:800]}")

    def suites() -> None:
        # As schemathesis' own runner: the data is real and changes under the machine, so hypothesis may find a
        # scenario's draws inconsistent with an earlier one's (Flaky) and stop that suite; the next suite, on
        # another seed, goes on, until the budget of calls is spent. Seeds are fixed: a run is repeatable.
        for suite in range(STATEFUL_SUITES):
            if len(caller.sent) >= STATEFUL_CALLS:
                return
            machine = seed(suite)(Machine)
            try:
                machine.run(
                    settings=settings(
                        FUZZ_SETTINGS,
                        derandomize=False,
                        max_examples=STATEFUL_SCENARIOS,
                        stateful_step_count=STATEFUL_STEPS,
                        phases=[Phase.generate],
                    )
                )
            except Flaky:
                continue

    before = len(caller.sent)
    await asyncio.to_thread(suites)
    assert len(caller.sent) - before >= STATEFUL_CALLS, f"only {len(caller.sent) - before} stateful calls"
    assert not failures, "\n\n".join(failures[:10])
    # The links carried real ids from answers into later calls: operations that need one answered 2xx. (Which
    # ones varies from run to run: the ids are new every run, and the machine's choices follow the answers.)
    succeeded = {op for op, status in caller.sent[before:] if 200 <= status < 300 and OPERATIONS[op].path_parameters}
    assert len(succeeded) >= STATEFUL_LINKED_OPERATIONS, f"only these took a real id: {sorted(succeeded)}"
