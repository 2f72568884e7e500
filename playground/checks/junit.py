"""JUnit XML for CI: one <testsuite> per preset run, one <testcase> per check.

With a repeat count, a check's attempts make one test case: it fails when any attempt failed (the message
says how many of how many passed: a flaky check shows), errs when one erred and none failed, and is skipped
(never passed) when assertions were not run, such as a judge without credentials.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from xml.etree import ElementTree as ET

from .models import CheckResult, CheckRun, Outcome


def _seconds(result: CheckResult) -> float:
    if result.started_at and result.finished_at:
        return (result.finished_at - result.started_at).total_seconds()
    return 0.0


def _details(results: list[CheckResult], base_url: str) -> str:
    lines = []
    for r in results:
        where = f"{base_url}/sessions/{r.session_id}/replay/" if r.session_id else "no session"
        lines.append(f"attempt {r.attempt}: {r.status}{': ' + r.reason if r.reason else ''} ({where})")
        for a in r.assertions.all():
            seq = f" #seq={a.seq}" if a.seq else ""
            lines.append(f"  turn {a.turn}: [{a.status}] {a.label}: {a.reason}{seq}")
    return "\n".join(lines)


def junit_xml(runs: list[CheckRun], *, base_url: str = "") -> str:
    """The runs (results and assertions loaded) as a JUnit XML document."""
    root = ET.Element("testsuites", name="preset checks")
    totals: dict[str, int] = defaultdict(int)
    for run in runs:
        preset = run.preset
        suite_name = f"{preset.name} ({preset.slug or preset.id}) v{run.preset_version} on {run.upstream}"
        by_check: dict[str, list[CheckResult]] = defaultdict(list)
        for result in run.results.all():
            by_check[result.check_name].append(result)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        cases = []
        time = 0.0
        for name, results in by_check.items():
            counts["tests"] += 1
            seconds = sum(_seconds(r) for r in results)
            time += seconds
            case = ET.Element(
                "testcase", classname=f"preset.{preset.slug or preset.id}", name=name, time=f"{seconds:.3f}"
            )
            statuses = [r.status for r in results]
            passed = statuses.count(Outcome.PASSED)
            rate = f"{passed} of {len(results)} attempts passed"
            first = next((r for r in results if r.status == Outcome.FAILED), None)
            erred = next((r for r in results if r.status in (Outcome.ERROR, Outcome.CANCELLED)), None)
            partial = next((r for r in results if r.status == Outcome.INCOMPLETE), None)
            if first is not None:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=f"{rate}: {first.reason}", type="assertion")
                failure.text = _details(results, base_url)
            elif erred is not None:
                counts["errors"] += 1
                error = ET.SubElement(case, "error", message=f"{rate}: {erred.reason or erred.status}", type="error")
                error.text = _details(results, base_url)
            elif partial is not None:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"not fully run: {partial.reason}")
            out = ET.SubElement(case, "system-out")
            out.text = _details(results, base_url)
            cases.append(case)
        suite = ET.SubElement(root, "testsuite", {"name": suite_name, "time": f"{time:.3f}"})
        for key, value in counts.items():
            suite.set(key, str(value))
        suite.extend(cases)
        for key, value in counts.items():
            totals[key] += value
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def outcome_counts(results: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for r in results:
        counts[r.status] += 1
    return dict(counts)
