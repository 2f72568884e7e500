"""An OpenAI Agents SDK voice agent, its default settings and one function tool, for a test that watches
it in the console: `python watched_agent.py <ws URL of /v1/realtime> <token>`.

It connects, prints `connected`, waits for a line on stdin, asks about the weather (the emulator calls
the tool for that), prints `answered <the answer>` once the tool's output is in the spoken answer's
transcript, and stays connected (the session live) until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from agents import function_tool, set_trace_processors
from agents.realtime import RealtimeAgent, RealtimeRunner


@function_tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"Sunny, 21 degrees in {city}"


def last_assistant_words(history: list[Any]) -> str:
    for item in reversed(history):
        if getattr(item, "role", None) == "assistant":
            return "".join(getattr(p, "text", None) or getattr(p, "transcript", None) or "" for p in item.content)
    return ""


async def main(url: str, token: str) -> None:
    set_trace_processors([])  # the SDK's own trace export goes to OpenAI: nothing leaves this machine
    agent = RealtimeAgent(name="Weather", instructions="Answer with the tools.", tools=[get_weather])
    session = await RealtimeRunner(agent).run(model_config={"url": url, "api_key": token})
    loop = asyncio.get_running_loop()
    async with session:
        print("connected", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        await session.send_message("What is the weather in Oslo?")
        async for event in session:
            if event.type == "error":
                print(f"error {event.error}", flush=True)
            # The transcript streams in: the answer is whole once it has the tool's output and its full stop.
            answer = last_assistant_words(event.history) if event.type == "history_updated" else ""
            if "Sunny" in answer and answer.endswith("."):
                print(f"answered {answer}", flush=True)
                break
        await loop.run_in_executor(None, sys.stdin.read)  # until stdin closes


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
