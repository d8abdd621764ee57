"""A TA grades written answers in a real browser: headless Chromium opens a written-answer page from file:// (its
strict Content-Security-Policy allows only the page's own script, by hash), enters scores and comments, is refused
a score above the rubric's maximum, filters the ungraded answers and saves a CSV; the grader merges the download
and the scores reach the gradebook and each student's feedback, with the same totals in both.

Chromium is driven through its DevTools protocol over ``--remote-debugging-pipe`` (NUL-separated JSON on file
descriptors 3 and 4), so no driver package is needed."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from test_written import answers_json, handout_cells

from grader.reporting import written
from grader.shipping.grade import write_class_outputs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class DevTools:
    """A headless Chromium and a page session in it, spoken to over the DevTools pipe."""

    def __init__(self, profile: Path):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire():  # fd 3: what Chromium reads, fd 4: what it writes (kept open by pass_fds)
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(profile)})
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_child, 1 << 16)
                assert chunk, "Chromium closed the DevTools pipe"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply.get("result", {})
            self.events.append(reply)
        raise AssertionError(f"{method}: no reply within 60 s")

    def page(self, method: str, **params) -> dict:
        return self.call(method, self.session, **params)

    def js(self, expression: str):
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def close(self):
        try:
            self.call("Browser.close")
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_child)
        os.close(self._from_child)


RESULTS = {"score": 5.0, "max_score": 10.0, "tests": [
    {"name": "Q1a: the box network", "score": 5.0, "max_score": 10.0, "status": "failed",
     "tags": ["q1_expressivity", "q1a"], "output": "off by one"}]}


@pytest.fixture
def out(tmp_path):
    """A graded class of three: ann and ben answered Q1a, cy left it as the handout had it."""
    out = tmp_path / "grades"
    q1 = "q1_expressivity"
    answers = {"ann": handout_cells(q1, edits={"answer:q1a": "Two steps, $h$ high, one at $0$, one at $\\delta$."}),
               "ben": handout_cells(q1, edits={"answer:q1a": "A box made of two neurons."}),
               "cy": handout_cells(q1)}
    for sid, cells in answers.items():
        (out / sid).mkdir(parents=True)
        (out / sid / "answers.json").write_text(json.dumps(answers_json(**{q1: cells})), encoding="utf-8")
        (out / sid / "results.json").write_text(json.dumps(RESULTS), encoding="utf-8")
        (out / sid / "meta.json").write_text(json.dumps({"student_id": sid}), encoding="utf-8")
    write_class_outputs(out)
    return out


def enter_score(browser: DevTools, sid: str, score: str, comment: str = "") -> None:
    """Type a score and a comment into ``sid``'s card, as a TA would (the input event runs the page's checks)."""
    browser.js(f"""(() => {{
        const card = document.querySelector('article.card[data-sid="{sid}"]');
        const s = card.querySelector('.score-input'); s.value = {json.dumps(score)};
        s.dispatchEvent(new Event('input'));
        card.querySelector('.comment-input').value = {json.dumps(comment)};
    }})()""")


def wait_for_file(folder: Path, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob("*.csv")]
        if done:
            time.sleep(0.2)
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"nothing was downloaded into {folder} within {timeout} s")


def test_ta_scores_in_the_browser_reach_gradebook_and_feedback(out, tmp_path):
    assert CHROMIUM, "no chromium on PATH: `make setup` installs it (scripts/system-packages.sh --test)"
    maximum = written.load_questions()["q1a"].max_points
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser = DevTools(tmp_path / "profile")
    try:
        browser.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
        browser.page("Page.enable")
        browser.page("Page.navigate", url=(out / "written" / "q1a.html").as_uri())
        deadline = time.monotonic() + 30
        while browser.js("document.readyState") != "complete" and time.monotonic() < deadline:
            time.sleep(0.1)
        # the script ran under the page's CSP: it shows the grading bar, which is hidden without it
        assert browser.js("document.getElementById('grading').hidden") is False
        assert browser.js("document.getElementById('graded-count').textContent") == "0 of 3 graded"

        def enter(sid, score, comment=""):
            enter_score(browser, sid, score, comment)

        enter("ann", str(maximum + 1))
        browser.js("document.getElementById('save').click()")
        assert "Not saved: 1 score(s) out of range" in browser.js("document.getElementById('save-message').textContent")
        assert "more than the rubric's" in browser.js(
            "document.querySelector('article.card[data-sid=\"ann\"] .score-problem').textContent")
        assert not list(downloads.iterdir())
        enter("ann", str(maximum), "complete, \"both\" edges")
        enter("ben", "0,5", "=only one edge")
        browser.js("(() => { const f = document.getElementById('filter'); f.value = 'ungraded';"
                   " f.dispatchEvent(new Event('change')); })()")
        shown = browser.js("[...document.querySelectorAll('article.card')].filter(c => !c.hidden)"
                           ".map(c => c.dataset.sid)")
        assert shown == ["cy"]
        browser.js("(() => { const f = document.getElementById('filter'); f.value = 'unanswered';"
                   " f.dispatchEvent(new Event('change')); })()")
        assert browser.js("[...document.querySelectorAll('article.card')].filter(c => !c.hidden)"
                          ".map(c => c.dataset.sid)") == ["cy"]
        browser.js("document.getElementById('save').click()")
        saved = wait_for_file(downloads)
    finally:
        browser.close()
    assert saved.name == "manual-scores-q1a.csv"
    write_class_outputs(out, saved)
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert (rows["ann"]["q1a"], rows["ben"]["q1a"], rows["cy"]["q1a"]) == (
        written.fmt_points(maximum), "0.5", "")
    max_all = 10 + sum(q.max_points for q in written.load_questions().values())
    assert float(rows["ann"]["total_with_written"]) == 5 + maximum
    assert float(rows["ann"]["max_with_written"]) == max_all
    feedback = (out / "ann" / "feedback.md").read_text()
    assert (f"Course total: {written.fmt_points(5 + maximum)} / {written.fmt_points(max_all)} points = autograded 5 / "
            f"10 + written {written.fmt_points(maximum)}") in feedback
    assert 'complete, "both" edges' in feedback
    assert "only one edge" in (out / "ben" / "feedback.html").read_text()
    page = (out / "written" / "q1a.html").read_text()  # the page shows what was merged, ready to be edited again
    assert 'value="0.5"' in page and "2 scored" in page and "=only one edge" in page
