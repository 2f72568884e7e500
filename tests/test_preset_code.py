"""View code for presets: the generated scripts run for real.

The Python scripts (openai SDK, bare websockets) run in a subprocess against a real emulator server
on loopback (in a thread of this process), which also records what each connection asked for: the
model URI in the query string and the Authorization header. The curl script runs against a served
playground (uvicorn, its own database, the emulator upstream) with an API token.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from emulator import GREETING, EmulatorServer, word_tone
from playground.presets.code import CODE_LANGS, preset_code
from playground.presets.onboarding import ONBOARDING_PRESETS, WEATHER_OUTPUT

from .live_server import ROOT, served_playground

PRESETS = {p["slug"]: p for p in ONBOARDING_PRESETS}
AUDIO_PRESETS = {slug for slug, p in PRESETS.items() if p["content"]["session"].get("output_modalities") == ["audio"]}
PYTHON_LANGS = ("openai", "websockets")
FAKE_KEY = "fake-key-0123456789"
FOLDER = "b1gfolder"
MODEL_URI = f"gpt://{FOLDER}/speech-realtime-250923"
# The emulator's greeting (a conversation without a user message) and its voice: 60 ms of PCM16 per word.
GREETING_AUDIO_BYTES = len(GREETING.split()) * len(word_tone(44100))
SCRIPT_TIMEOUT_S = 60


# --- the emulator in a thread --------------------------------------------------------------------------------


class RecordingEmulator(EmulatorServer):
    """The emulator, keeping each connection's request path and Authorization headers."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, list[str]]] = []

    def _check_request(self, connection: Any, request: Any) -> Any:
        self.requests.append((request.path, request.headers.get_all("Authorization")))
        return super()._check_request(connection, request)


@pytest.fixture
def emulator() -> Iterator[tuple[RecordingEmulator, str]]:
    """A running emulator and the base URL the scripts take (`ws://127.0.0.1:<port>/v1`)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulator", daemon=True)
    thread.start()
    server = RecordingEmulator()
    url = asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server, url.removesuffix("/realtime")
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any credentials or overrides the scripts read, plus `extra`."""
    names = ("YC_API_KEY", "YC_IAM_TOKEN", "YC_FOLDER_ID", "REALTIME_BASE_URL", "REALTIME_MODEL", "PLAYGROUND_URL")
    env = {k: v for k, v in os.environ.items() if k not in names and not k.startswith("OPENAI_")}
    return {**env, **extra}


def curl_env(**extra: str) -> dict[str, str]:
    """For the curl scripts: `python3` is this interpreter (a pyenv shim can take a second to start)."""
    env = clean_env(**extra)
    return {**env, "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")}


def run_python(tmp_path: Path, code: dict[str, str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / code["filename"]
    script.write_text(code["code"], encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=SCRIPT_TIMEOUT_S,
    )


def assert_in_order(text: str, *pieces: str) -> None:
    position = 0
    for piece in pieces:
        found = text.find(piece, position)
        assert found >= 0, f"{piece!r} missing (in order) from:\n{text}"
        position = found + len(piece)


def assert_expected_answer(slug: str, stdout: str) -> None:
    """What a user sees when the preset runs on the emulator."""
    if slug == "function-calling-weather":
        assert_in_order(
            stdout,
            "user: What is the weather in Moscow right now?",
            "[function call] get_weather({",
            f"[function output] get_weather -> {WEATHER_OUTPUT}",
            f"assistant: The tool answered: {WEATHER_OUTPUT}.",
        )
    else:
        assert f"assistant: {GREETING}\n" in stdout
    if slug in AUDIO_PRESETS:
        assert f"[audio] {GREETING_AUDIO_BYTES} bytes of PCM16 at 44100 Hz" in stdout
    else:
        assert "[audio]" not in stdout


# --- the Python scripts against the emulator -----------------------------------------------------------------


@pytest.mark.parametrize("lang", PYTHON_LANGS)
@pytest.mark.parametrize("slug", list(PRESETS))
def test_python_script_runs_the_preset(
    tmp_path: Path, emulator: tuple[RecordingEmulator, str], slug: str, lang: str
) -> None:
    server, base_url = emulator
    preset = PRESETS[slug]
    code = preset_code(name=preset["name"], content=preset["content"], lang=lang, playground_url="http://testserver")
    assert code["lang"] == lang
    assert code["filename"] == f"{slug}-{lang}.py"

    result = run_python(tmp_path, code, clean_env(REALTIME_BASE_URL=base_url, YC_API_KEY=FAKE_KEY, YC_FOLDER_ID=FOLDER))

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert_expected_answer(slug, result.stdout)
    # One connection, to .../v1/realtime with the full model URI and Yandex's API-key header (once).
    assert len(server.requests) == 1
    path, authorization = server.requests[0]
    assert urlsplit(path).path == "/v1/realtime"
    assert parse_qs(urlsplit(path).query)["model"] == [MODEL_URI]
    assert authorization == [f"Api-Key {FAKE_KEY}"]


@pytest.mark.parametrize("lang", PYTHON_LANGS)
def test_python_script_with_an_iam_token_and_a_model_uri(
    tmp_path: Path, emulator: tuple[RecordingEmulator, str], lang: str
) -> None:
    server, base_url = emulator
    preset = PRESETS["text-chat"]
    code = preset_code(name=preset["name"], content=preset["content"], lang=lang, playground_url="http://testserver")
    env = clean_env(REALTIME_BASE_URL=base_url, YC_IAM_TOKEN="t1.fake-iam", REALTIME_MODEL="gpt://other/custom-model")

    result = run_python(tmp_path, code, env)

    assert result.returncode == 0, result.stderr
    assert f"assistant: {GREETING}" in result.stdout
    path, authorization = server.requests[0]
    assert parse_qs(urlsplit(path).query)["model"] == ["gpt://other/custom-model"]
    assert authorization == ["Bearer t1.fake-iam"]


@pytest.mark.parametrize("lang", PYTHON_LANGS)
def test_python_script_exits_non_zero_on_an_error_event(
    tmp_path: Path, emulator: tuple[RecordingEmulator, str], lang: str
) -> None:
    _, base_url = emulator
    # The emulator (like Yandex) refuses two output modalities at once: session.update answers `error`.
    content = {"session": {"output_modalities": ["text", "audio"]}, "response": None, "conversation": []}
    code = preset_code(name="Bad", content=content, lang=lang, playground_url="http://testserver")

    result = run_python(tmp_path, code, clean_env(REALTIME_BASE_URL=base_url, YC_API_KEY=FAKE_KEY, YC_FOLDER_ID=FOLDER))

    assert result.returncode == 1
    assert "error" in result.stderr and "output_modalities" in result.stderr


@pytest.mark.parametrize("lang", PYTHON_LANGS)
def test_python_script_applies_the_response_overrides(
    tmp_path: Path, emulator: tuple[RecordingEmulator, str], lang: str
) -> None:
    _, base_url = emulator
    content = {
        "session": {"output_modalities": ["audio"]},
        "response": {"output_modalities": ["text"], "max_output_tokens": 2},
        "conversation": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "tool_outputs": {},
    }
    code = preset_code(name="Overrides", content=content, lang=lang, playground_url="http://testserver")

    result = run_python(tmp_path, code, clean_env(REALTIME_BASE_URL=base_url, YC_API_KEY=FAKE_KEY, YC_FOLDER_ID=FOLDER))

    assert result.returncode == 0, result.stderr
    # Text instead of the session's audio, cut at two words.
    assert_in_order(result.stdout, "user: hi", "assistant: You said:\n", "[response incomplete]")
    assert "[audio]" not in result.stdout


@pytest.mark.parametrize("lang", PYTHON_LANGS)
def test_python_script_without_credentials_says_what_to_set(tmp_path: Path, lang: str) -> None:
    preset = PRESETS["text-chat"]
    code = preset_code(name=preset["name"], content=preset["content"], lang=lang, playground_url="http://testserver")

    result = run_python(tmp_path, code, clean_env(YC_FOLDER_ID=FOLDER))

    assert result.returncode == 1
    assert "YC_API_KEY" in result.stderr


# --- the curl script against a served playground -------------------------------------------------------------


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A served playground (emulator upstream) and an API token of a user in its database."""
    var_dir = tmp_path_factory.mktemp("playground")
    with served_playground(var_dir) as base:
        # The same database as the served playground: its var dir (or PLAYGROUND_DATABASE_URL, inherited).
        env = {**os.environ, "PLAYGROUND_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "playground.settings"}
        token = subprocess.run(
            [sys.executable, "manage.py", "create_api_token", "code-viewer"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        yield base, token


@pytest.mark.parametrize("slug", list(PRESETS))
def test_curl_script_runs_the_preset_through_the_playground(
    tmp_path: Path, playground: tuple[str, str], slug: str
) -> None:
    base, token = playground
    preset = PRESETS[slug]
    code = preset_code(name=preset["name"], content=preset["content"], lang="curl", playground_url=base + "/")
    assert code["filename"] == f"{slug}-curl.sh"
    script = tmp_path / code["filename"]
    script.write_text(code["code"], encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True).returncode == 0

    result = subprocess.run(
        ["bash", str(script)],
        cwd=tmp_path,
        env=curl_env(PLAYGROUND_TOKEN=token),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=SCRIPT_TIMEOUT_S,
    )

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert_expected_answer(slug, result.stdout)
    match = re.search(r"Session (\S+) is live\.", result.stdout)
    assert match, result.stdout
    session_id = match.group(1)
    assert f"Session {session_id} closed" in result.stdout
    # The session ran in the playground with the preset's config, and stays as a recording.
    headers = {"Authorization": f"Bearer {token}"}
    detail = httpx.get(f"{base}/api/sessions/{session_id}", headers=headers, timeout=10).json()
    assert detail["state"] == "ended"
    assert detail["upstream"] == "emulator"
    assert detail["config"]["instructions"] == preset["content"]["session"]["instructions"]
    events = httpx.get(f"{base}/api/sessions/{session_id}/events", headers=headers, timeout=10).json()
    client_types = [f["event"]["type"] for f in events if f["direction"] == "client"]
    items = len(preset["content"]["conversation"])
    calls = 1 if slug == "function-calling-weather" else 0
    assert client_types.count("conversation.item.create") == items + calls
    assert client_types.count("response.create") == 1 + calls


def test_curl_script_fails_on_a_refused_token(tmp_path: Path, playground: tuple[str, str]) -> None:
    base, _ = playground
    preset = PRESETS["text-chat"]
    code = preset_code(name=preset["name"], content=preset["content"], lang="curl", playground_url=base)
    script = tmp_path / code["filename"]
    script.write_text(code["code"], encoding="utf-8")

    result = subprocess.run(
        ["bash", str(script)],
        env=curl_env(PLAYGROUND_TOKEN="not-a-token"),
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )

    # The playground's refusal is shown, and nothing else ran.
    assert result.returncode != 0
    assert '"detail"' in result.stderr
    assert "is live" not in result.stdout


# --- generation: safety and shape ----------------------------------------------------------------------------

NASTY = "It's \"quoted\" \\ back'slash'; $(touch pwned) `id` ${HOME} '''\"\"\" \n new line\t\u2028 юникод"
NASTY_CONTENT: dict[str, Any] = {
    "session": {
        "output_modalities": ["text"],
        "instructions": NASTY * 3,
        "tools": [{"type": "function", "name": "look_up", "description": NASTY, "parameters": {"type": "object"}}],
        "audio": {"input": {"turn_detection": None}},
        "temperature": 0.7,
    },
    "response": {"metadata": {"note": NASTY}, "max_output_tokens": 5},
    "conversation": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": NASTY}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "'"}]},
    ],
    "tool_outputs": {"look_up": NASTY, "it's": "'\"'"},
}
NASTY_NAME = "Evil\nimport os; os.system('touch pwned')  # \r\x00 \"\"\" '''"
NASTY_URL = "http://host:8000/it's $(touch pwned)"


def python_assignments(code: str) -> dict[str, Any]:
    """The module-level constants of a generated script, read with `ast.literal_eval`."""
    values = {}
    for node in ast.parse(code).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper():
            with contextlib.suppress(ValueError):  # os.environ.get(...) is no literal
                values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("lang", PYTHON_LANGS)
def test_python_literals_round_trip(lang: str) -> None:
    code = preset_code(name=NASTY_NAME, content=NASTY_CONTENT, lang=lang, playground_url=NASTY_URL)["code"]

    values = python_assignments(code)

    assert values["SESSION"] == {"type": "realtime", **NASTY_CONTENT["session"]}
    assert values["CONVERSATION"] == NASTY_CONTENT["conversation"]
    assert values["RESPONSE"] == NASTY_CONTENT["response"]
    assert values["TOOL_OUTPUTS"] == NASTY_CONTENT["tool_outputs"]
    # The name went into a one-line comment, nowhere else.
    assert not any(line.startswith("import os;") for line in code.splitlines())
    assert "\x00" not in code and "\r" not in code


def test_curl_values_round_trip(tmp_path: Path) -> None:
    code = preset_code(name=NASTY_NAME, content=NASTY_CONTENT, lang="curl", playground_url=NASTY_URL)["code"]
    script = tmp_path / "code.sh"
    script.write_text(code, encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True).returncode == 0
    # Run the script's preamble only (up to its first function), then print what bash made of the values.
    preamble = code[: code.index("\npost() {")]
    printer = 'printf "%s\\0" "$BASE" "$SESSION" "$RESPONSE_CREATE" "$TOOL_OUTPUTS" "${CONVERSATION[@]}"'
    probe = tmp_path / "probe.sh"
    probe.write_text(preamble + "\n" + printer + "\n", encoding="utf-8")

    result = subprocess.run(
        ["bash", str(probe)], cwd=tmp_path, env=clean_env(PLAYGROUND_TOKEN="x"), capture_output=True, check=True
    )

    base, session, response_create, tool_outputs, *items = result.stdout.decode().split("\0")[:-1]
    assert base == NASTY_URL
    assert json.loads(session) == {"session": {"type": "realtime", **NASTY_CONTENT["session"]}}
    assert json.loads(response_create) == {"type": "response.create", "response": NASTY_CONTENT["response"]}
    assert json.loads(tool_outputs) == NASTY_CONTENT["tool_outputs"]
    assert [json.loads(i) for i in items] == [
        {"type": "conversation.item.create", "item": item} for item in NASTY_CONTENT["conversation"]
    ]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("lang", CODE_LANGS)
def test_filename_is_a_plain_slug(lang: str) -> None:
    code = preset_code(name=NASTY_NAME, content={}, lang=lang, playground_url="http://testserver")
    assert re.fullmatch(r"[a-z0-9-]+\.(py|sh)", code["filename"]), code["filename"]
    cyrillic = preset_code(name="Голосовой агент", content={}, lang=lang, playground_url="http://testserver")
    assert cyrillic["filename"] in ("preset-openai.py", "preset-websockets.py", "preset-curl.sh")


@pytest.mark.parametrize("lang", CODE_LANGS)
def test_no_secret_of_the_environment_is_embedded(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    secrets = {
        "YC_API_KEY": "AQVN-secret-api-key",
        "YC_IAM_TOKEN": "t1.secret-iam-token",
        "YC_FOLDER_ID": "b1gsecretfolder",
        "PLAYGROUND_TOKEN": "pgt-secret-token",
        "PLAYGROUND_SECRET_KEY": "django-secret-key",
        "OPENAI_API_KEY": "sk-secret",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    preset = PRESETS["function-calling-weather"]

    code = preset_code(name=preset["name"], content=preset["content"], lang=lang, playground_url="http://testserver")[
        "code"
    ]

    for value in secrets.values():
        assert value not in code
    # Only the names of the variables that hold them.
    if lang == "curl":
        assert "PLAYGROUND_TOKEN" in code
    else:
        assert "YC_API_KEY" in code and "YC_IAM_TOKEN" in code and "YC_FOLDER_ID" in code


def test_unknown_lang_is_refused() -> None:
    with pytest.raises(ValueError, match="'java'"):
        preset_code(name="x", content={}, lang="java", playground_url="http://testserver")


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="ruff not installed")
@pytest.mark.parametrize("lang", PYTHON_LANGS)
@pytest.mark.parametrize("slug", list(PRESETS))
def test_python_scripts_are_lint_clean(slug: str, lang: str) -> None:
    preset = PRESETS[slug]
    code = preset_code(name=preset["name"], content=preset["content"], lang=lang, playground_url="http://testserver")
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff is not None
    for command in (
        ["check", "--select", "E,F,W,I,B,UP,SIM,RUF"],
        ["format", "--check"],
    ):
        result = subprocess.run(
            [ruff, *command, "--isolated", "--line-length", "120", "--stdin-filename", code["filename"], "-"],
            input=code["code"],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
