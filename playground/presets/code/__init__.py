"""View code for a preset: a runnable script that does what the preset sets up.

Three flavours (`CODE_LANGS`):
- `openai`: Python with the official `openai` SDK, straight to Yandex AI Studio Realtime;
- `websockets`: the same with the `websockets` library only;
- `curl`: bash and curl against this playground's REST API (the session runs through the playground,
  so it is recorded like any other).

Every value of the preset is embedded as a literal (Python `repr`, or JSON in single-quoted bash
strings); secrets never are: the scripts read them from the environment (`YC_API_KEY` or
`YC_IAM_TOKEN`, `YC_FOLDER_ID`; `PLAYGROUND_TOKEN` for curl). Pure functions, no Django.
"""

from __future__ import annotations

import re
from typing import Any

from .curl import curl_script
from .literals import one_line
from .python import python_script

CODE_LANGS = ("openai", "websockets", "curl")


def preset_code(*, name: str, content: dict[str, Any], lang: str, playground_url: str) -> dict[str, str]:
    """`{"lang", "filename", "code"}`: a script running the preset `content` in `lang` (one of CODE_LANGS)."""
    if lang not in CODE_LANGS:
        raise ValueError(f"Unknown code language {lang!r}: choose one of {', '.join(CODE_LANGS)}.")
    title = one_line(name) or "Preset"
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-") or "preset"
    session = {"type": "realtime", **(content.get("session") or {})}
    response = content.get("response") or None
    conversation = list(content.get("conversation") or [])
    tool_outputs = dict(content.get("tool_outputs") or {})
    if lang == "curl":
        filename = f"{slug}-curl.sh"
        code = curl_script(
            title=title,
            filename=filename,
            session=session,
            response=response,
            conversation=conversation,
            tool_outputs=tool_outputs,
            playground_url=playground_url.rstrip("/"),
        )
    else:
        filename = f"{slug}-{lang}.py"
        code = python_script(
            lang=lang,
            title=title,
            filename=filename,
            session=session,
            response=response,
            conversation=conversation,
            tool_outputs=tool_outputs,
        )
    return {"lang": lang, "filename": filename, "code": code}
