"""Turn the plugin's check records into Gradescope's results.json and the grader's meta.json."""

from __future__ import annotations

import math
import re

from grader import registry

_PARAM = re.compile(r"\[(.*)\]$")


SANDBOX_NOTES = {
    "bubblewrap": "Your code ran in a sandbox (bubblewrap).",
    "landlock": "Your code ran in a sandbox (Landlock and seccomp, as an unprivileged user).",
    "none": "Warning: your code ran WITHOUT a sandbox on this machine (neither bubblewrap nor Landlock was usable).",
}


def sandbox_of(workers: list[dict]) -> str | None:
    """The weakest sandbox any started worker ran in ("bubblewrap", "landlock", "none"); None if none started."""
    modes = {w.get("mode") or ("bubblewrap" if w.get("sandboxed") else "none") for w in workers if w.get("started")}
    return next((m for m in ("none", "landlock", "bubblewrap") if m in modes), None)


def results_json(record: dict, execution_time: float, sandboxed: bool | str) -> dict:
    """Gradescope's autograder results format; hidden checks are shown to students once grades are published."""
    tests = []
    counters = {stem: 0 for stem in registry.stems()}
    for check in record["checks"]:
        stem = check["stem"]
        counters[stem] += 1
        part = check.get("part") or registry.by_stem(stem).label
        name = f"{registry.heading(part)}: {check['title']}"
        if m := _PARAM.search(check["nodeid"]):
            name = f"{name} [{m.group(1)}]"
        test = {
            "name": name,
            "number": f"{registry.by_stem(stem).number}.{counters[stem]}",
            "score": round(check["score"], 4),
            "max_score": round(check["points"], 4),
            "status": "passed" if check["status"] == "passed" else "failed",
            "output": check["output"],
            "visibility": "after_published" if check["hidden"] else "visible",
            "tags": [stem, part],
        }
        if check["status"] == "skipped":
            test["output"] = not_run_reason(check)
            test["extra_data"] = {"not_run": test["output"]}
        tests.append(test)
    score = round(math.fsum(t["score"] for t in tests), 4)
    max_score = round(math.fsum(t["max_score"] for t in tests), 4)
    mode = sandboxed if isinstance(sandboxed, str) else "bubblewrap" if sandboxed else "none"
    note = SANDBOX_NOTES[mode]
    return {
        "score": score,
        "max_score": max_score,
        "execution_time": round(execution_time, 2),
        "output": note,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def not_run_reason(check: dict) -> str:
    """Why a skipped check was not run. Gradescope's format has no "skipped" status, so results.json records such a
    check as failed with 0 points and this reason in ``extra_data.not_run``; every report shows it as not run."""
    if check.get("training"):
        return "not run: the training checks were skipped for this grading run (--skip-training)"
    return f"not run: {check.get('output') or 'skipped'}"


def meta_json(student_id: str, prepared, record: dict, kit_version: str, cache_key: str, plots: dict) -> dict:
    """What the feedback needs beyond results.json: where each answer came from and how each worker ended."""
    workers = {}
    for run in record.get("workers", []):
        if not run.get("hidden"):  # what hidden checks' workers saw or printed stays with the instructor
            workers.setdefault(run["stem"], []).append(run)
    questions = {}
    for stem in registry.stems():
        runs = workers.get(stem, [])
        problems = [r["reason"] for r in runs if r.get("started") and not r["ok"] and r["reason"]]
        problems += [r["import_error"] for r in runs if r.get("import_error")][:1]
        stdout = "".join(r.get("stdout", "") for r in runs)[:4000]
        questions[stem] = {
            "source": prepared.sources.get(stem, "missing") if prepared else "missing",
            "notes": list(prepared.notes.get(stem, [])) if prepared else [],
            "error": prepared.errors.get(stem, "") if prepared else "",
            "worker": "; ".join(dict.fromkeys(problems)) or ("ok" if any(r.get("started") for r in runs)
                                                             else "not run"),
            "stdout": stdout,
        }
    return {
        "student_id": student_id,
        "kit_version": kit_version,
        "digest": prepared.digest if prepared else "",
        "cache_key": cache_key,
        "sandboxed": all(r.get("sandboxed") for r in started) if (started := [
            r for r in record.get("workers", []) if r.get("started")]) else None,
        "sandbox": sandbox_of(record.get("workers", [])),
        "questions": questions,
        "general": list(prepared.general) if prepared else [],
        "plots": plots,
    }
