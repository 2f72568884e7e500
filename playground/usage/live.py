"""Usage while sessions are live: accounted once per `response.done`, off the relay's path.

The recorder (playground/realtime/runtime/recorder.py) tells its `UsageFollower` which sessions had a
`response.done` in a batch it has just written; nothing is done per event. The follower accounts them on
playground.db's threads (never the recorder's: a slow read of a long response's audio must not hold
recording up), one batch of sessions at a time (sessions that finish responses meanwhile wait and go
together next), then acts on their budgets through the relays' channel-layer messages:
- a budget used up: `relay.close` with kind `budget_exceeded` to every live session it binds: each ends
  after the response it was running when the budget ran out (`ran_out_at`), at once when none was, and a
  response it started since is cut; its end notice says why;
- a budget past its alert for the first time this month: a `budget_alert` notice to every live session it
  binds (the console shows it in its banner).
A relay that ends records the rest (`session_ended`): the audio no response followed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer
from django.utils import timezone

from playground.db import db
from playground.realtime.models import RealtimeSession, SessionState
from playground.realtime.runtime import messages
from playground.realtime.runtime.frames import notice_data

from . import budgets, services

log = logging.getLogger(__name__)
STOP_WAIT_S = 10.0


def _after_responses(*, session_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Account each session's finished responses; answer the messages to send: (relay channel, message)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}  # one message of a kind per relay
    now = timezone.now()
    for session_id in session_ids:
        if not services.usage_account(session_id=session_id):
            continue
        session = RealtimeSession.objects.filter(pk=session_id).select_related("team").first()
        if session is None or session.state != SessionState.LIVE or not session.relay_channel:
            continue
        verdict = budgets.budget_after_response(session=session, now=now)
        for budget, words, ran_out_at in verdict.exceeded:
            stop = messages.close(reason=words, kind=budgets.EXCEEDED_KIND, ran_out_at=ran_out_at)
            for _, channel, _owner in budgets.live_sessions_bound(budget):
                out.setdefault((channel, "close"), dict(stop))
        for budget, words in verdict.alerts:
            extra = {"budget": str(budget.pk), "usage_url": budgets.USAGE_PAGE}
            data = notice_data(kind=budgets.ALERT_KIND, message=words, **extra)
            for _, channel, _owner in budgets.live_sessions_bound(budget):
                out.setdefault(
                    (channel, f"alert {budget.pk}"), dict(messages.notice(kind=budgets.ALERT_KIND, data=data))
                )
    return [(channel, message) for (channel, _), message in out.items()]


class UsageFollower:
    """One per recorder (per event loop): sessions with new responses in, budgets acted on."""

    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def responses_done(self, session_ids: set[str]) -> None:
        """Called by the recorder after a write, with the sessions that had a response.done in it."""
        self._pending |= session_ids
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="usage follower")

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = sorted(self._pending), set()
            try:
                sends = await db(_after_responses, session_ids=batch)
                layer = get_channel_layer()
                for channel, message in sends:
                    await layer.send(channel, message)
            except Exception:
                # Usage is never worth a relay: logged, and the next response (or the session's end, or
                # manage.py usage_backfill) accounts what this one missed, from the same cursor.
                log.exception("usage: accounting sessions %s failed", batch)

    async def stop(self) -> None:
        """Let the accounting in flight finish (its thread would go on writing anyway), then stop."""
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_WAIT_S)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def session_ended(session_id: str) -> None:
    """A relay ended its session: account what is left, its tail included (never raises)."""
    try:
        await db(services.usage_account, session_id=session_id, final=True)
    except Exception:
        log.exception("usage: accounting the end of session %s failed", session_id)
