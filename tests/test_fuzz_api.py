"""The whole REST API fuzzed from its own OpenAPI schema with schemathesis.

Every operation gets generated requests, valid (positive) and invalid (negative), with the path ids
sometimes naming real objects (a preset, an ended session, a team, share and invitation tokens)
seeded for the test. Checks: never a 5xx, only the status codes the schema declares, and every
4xx is JSON with words in `detail`.

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from playground.asgi import application as _application
from tests.test_relay_path import create_session

SCHEMA = schemathesis.openapi.from_asgi("/api/openapi.json", _application)


def _operations() -> dict[str, Any]:
    operations = {}
    for result in SCHEMA.get_all_operations():
        assert isinstance(result, Ok), f"the schema has an operation schemathesis cannot read: {result.err()}"
        operations[result.ok().label] = result.ok()
    return operations


OPERATIONS = _operations()

EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 6}
SEEDED_EXAMPLES = 6


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


async def seed(api: httpx.AsyncClient) -> dict[str, list[Any]]:
    """Real objects for the path parameters to name."""
    res = await api.post("/api/presets", json={"name": "Fuzzed", "content": {"session": {"instructions": "x"}}})
    assert res.status_code == 201, res.text
    preset = res.json()
    shared_preset = (await api.post(f"/api/presets/{preset['id']}/share")).json()
    ended = await create_session(api)
    await api.post(f"/api/sessions/{ended['id']}/close")
    shared_session = (await api.post(f"/api/sessions/{ended['id']}/share")).json()
    team = (await api.post("/api/teams", json={"name": "Fuzzers"})).json()
    invitation = (await api.post(f"/api/teams/{team['id']}/invitations", json={"role": "viewer"})).json()

    def token_of(url: str | None) -> str:
        assert url, "a share or invitation url"
        return url.rstrip("/").rsplit("/", 1)[1]

    return {
        "preset_id": [preset["id"]],
        "session_id": [ended["id"]],
        "other_id": [ended["id"]],
        "team_id": [team["id"]],
        "invitation_id": [str(invitation["id"])],
        "username": ["alice"],
        "number": [1],
        "token": [
            token_of(shared_preset.get("share_url")),
            token_of(shared_session.get("share_url")),
            token_of(invitation.get("url")),
        ],
    }


FUZZ_SETTINGS = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("label", sorted(OPERATIONS))
async def test_operation_fuzzed_from_the_schema(api: httpx.AsyncClient, token: str, label: str) -> None:
    operation = OPERATIONS[label]
    seeded = await seed(api)
    loop = asyncio.get_running_loop()
    auth = {"Authorization": f"Bearer {token}"}
    sent: list[int] = []

    def call(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=auth)
        request = to_httpx(kwargs)
        response = asyncio.run_coroutine_threadsafe(api.request(**request), loop).result(timeout=60)
        sent.append(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=request["headers"], transport_kwargs=kwargs)

    def run(strategy: st.SearchStrategy[Any], examples: int, *, maybe_empty: bool = False) -> Callable[[], None]:
        @settings(FUZZ_SETTINGS, max_examples=examples)
        @given(case=strategy)
        def fuzz(case: Any) -> None:
            call(case)

        def guarded() -> None:
            try:
                fuzz()
            except Unsatisfiable:
                # Negative mode for an operation with nothing to get wrong (a free-form string path id).
                if not maybe_empty:
                    raise

        return guarded

    path_names = [p.name for p in operation.path_parameters]
    runs = [
        run(operation.as_strategy(mode, headers=auth), n, maybe_empty=mode == GenerationMode.NEGATIVE)
        for mode, n in EXAMPLES.items()
    ]
    if path_names and all(name in seeded for name in path_names):
        real = [
            {name: seeded[name][i % len(seeded[name])] for name in path_names}
            for i in range(max(len(seeded[n]) for n in path_names))
        ]
        seeded_strategy = st.one_of(
            [operation.as_strategy(GenerationMode.POSITIVE, headers=auth, path_parameters=p) for p in real]
        )
        runs.append(run(seeded_strategy, SEEDED_EXAMPLES))
    for fuzz in runs:
        await asyncio.to_thread(fuzz)
    assert sent, "requests were made"
