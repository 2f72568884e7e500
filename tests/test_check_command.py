"""`manage.py preset_check` as CI runs it: on a fresh database after `make run`'s setup (migrate, onboarding
presets), progress and a summary, exit 0 when every check passes and 1 when one fails, JUnit XML with one
test case per check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

from tests.live_server import ROOT

CREATE = """
import django, json, sys
django.setup()
from playground.accounts.services import user_get_or_create
from playground.presets.schemas import PresetContent
from playground.presets.services import preset_create
user, _ = user_get_or_create(username="ci")
content = PresetContent.model_validate(json.loads(sys.argv[1]))
print(preset_create(user=user, name=sys.argv[2], content=content).id)
"""


def _env(var: Path) -> dict[str, str]:
    # The shipped limits (no test overrides): a run must pass within them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAYGROUND_", "YC_"))}
    return {**env, "PLAYGROUND_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "playground.settings"}


def _manage(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=_env(var), capture_output=True, text=True, timeout=300
    )


def _preset(var: Path, name: str, content: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CREATE, content, name], cwd=ROOT, env=_env(var), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_on_a_fresh_database_the_onboarding_checks_pass_with_junit(tmp_path: Path) -> None:
    assert _manage(tmp_path, "migrate", "--noinput", "-v", "0").returncode == 0
    assert _manage(tmp_path, "load_onboarding_presets").returncode == 0
    report = tmp_path / "report.xml"
    done = _manage(tmp_path, "preset_check", "--upstream", "emulator", "--junit", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in (
        "answers a greeting",
        "answers a spoken greeting aloud",
        "calls get_weather for Moscow",
        "tells a story aloud",
        "a spoken question ends its turn",
    ):
        assert any(line.startswith("  [1/1] ✓ " + name + ": passed") for line in lines), done.stdout
    assert "Text chat (text-chat) v1 on emulator: 1 attempt, 1 at a time" in lines
    assert any(
        line.startswith("5 presets, 5 checks, 5 attempts: 5 passed, 0 failed, 0 errors in ") for line in lines
    ), done.stdout
    assert f"JUnit XML: {report} (5 test cases)" in lines
    # Progress, not the relays' own log lines.
    assert "connection open" not in done.stderr

    root = ET.parse(report).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "5" and root.get("failures") == "0"
    cases = root.findall("testsuite/testcase")
    assert sorted(c.get("name") for c in cases) == sorted(
        [
            "answers a greeting",
            "answers a spoken greeting aloud",
            "calls get_weather for Moscow",
            "tells a story aloud",
            "a spoken question ends its turn",
        ]
    )
    weather = next(c for c in cases if c.get("classname") == "preset.function-calling-weather")
    assert weather.find("failure") is None and weather.find("skipped") is None
    assert "called get_weather" in (weather.findtext("system-out") or "")


def test_a_failing_check_exits_1_with_its_reason_in_words_and_in_junit(tmp_path: Path) -> None:
    assert _manage(tmp_path, "migrate", "--noinput", "-v", "0").returncode == 0
    content = (
        '{"session": {"output_modalities": ["text"]}, "checks": ['
        '{"name": "polite", "turns": [{"user": {"type": "text", "text": "Hi"}, "expect": ['
        '{"type": "text_contains", "value": "please"}, {"type": "response_status"}]}]},'
        '{"name": "judged", "turns": [{"user": {"type": "text", "text": "Hi"}, "expect": ['
        '{"type": "judge", "rubric": "Friendly."}]}]}]}'
    )
    preset_id = _preset(tmp_path, "Manners", content)
    report = tmp_path / "report.xml"
    done = _manage(tmp_path, "preset_check", "--preset", preset_id, "--repeat", "2", "--junit", str(report))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "Manners" in out and ": 4 attempts, 2 at a time" in out
    reason = 'turn 1: the answer contains “please”: the answer does not contain “please”: it was “You said: "Hi".”'
    assert out.count(reason) == 2
    assert "/replay/" in out
    assert "1 preset, 2 checks, 4 attempts: 0 passed, 2 failed, 0 errors, 2 not fully run (not passed) in " in out

    root = ET.parse(report).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("2", "1", "1")
    polite = root.find("testsuite/testcase[@name='polite']")
    assert polite is not None
    failure = polite.find("failure")
    assert failure is not None and failure.get("message") == f"0 of 2 attempts passed: {reason}"
    judged = root.find("testsuite/testcase[@name='judged']")
    assert judged is not None and judged.find("failure") is None
    skipped = judged.find("skipped")
    assert skipped is not None and "not run: the judge grades with a Yandex text model" in (
        skipped.get("message") or ""
    )


def test_unknown_presets_and_bad_options_are_refused_in_words(tmp_path: Path) -> None:
    assert _manage(tmp_path, "migrate", "--noinput", "-v", "0").returncode == 0
    done = _manage(tmp_path, "preset_check", "--preset", "no-such-preset")
    assert done.returncode != 0 and "No preset 'no-such-preset'" in done.stderr
    done = _manage(tmp_path, "preset_check", "--repeat", "0")
    assert done.returncode != 0 and "--repeat must be from 1 to 20" in done.stderr
    done = _manage(tmp_path, "preset_check", "--upstream", "yandex")
    assert done.returncode == 0 and "No preset has checks: nothing to run." in done.stdout
