"""The adversarial corpus (tests/adversarial/): every attack is graded in one batch, the way `make grade` grades a
class, and must change nothing but its own question's score: the batch completes, the other questions and the other
submissions are graded as usual, no secret reaches an output, and nothing outside the sandbox changes. Here under
bubblewrap; test_adversarial_landlock.py runs the same tests in the Landlock mode."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import secrets
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT
from test_similarity import NO_OPS, TRIVIAL_EDITS, _after_each_statement

from grader import registry

CORPUS = ROOT / "tests" / "adversarial"
EXPECTATIONS = json.loads((CORPUS / "expectations.json").read_text(encoding="utf-8"))
STEMS = registry.stems()
CANARY = "NNKIT_ADVERSARIAL_CANARY"
# Kit files no submission may change, hashed before and after the batch.
KIT_DIRS = ("grader", "solutions", "nnkit", "assignments")
PLOTS = {"q1b.png", "q3.png", "q4.png"}
# One batch per mode: 5-15 minutes on 2 busy cores (three attacks run into the 60 s worker timeout); the 900 s this
# was first was exceeded under a load average of 7 once the corpus passed 70 attacks.
BATCH_TIMEOUT = 1800

pytestmark = pytest.mark.slow


def _fill(text: str, values: dict[str, str]) -> str:
    """A corpus template made concrete: ``# @@include <path>`` lines replaced by that file, then the placeholders."""
    lines = [(ROOT / line.split(maxsplit=2)[2].strip()).read_text(encoding="utf-8")
             if line.startswith("# @@include ") else line for line in text.splitlines(keepends=True)]
    text = "".join(lines)
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    return text


def _fill_file(source: Path, target: Path, values: dict[str, str]) -> None:
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".ipynb":
        try:
            notebook = json.loads(text)
        except ValueError:  # the truncated notebook stays as it is
            notebook = None
        if notebook is not None:
            for cell in notebook["cells"]:
                if isinstance(cell.get("source"), (str, list)) and all(isinstance(s, str) for s in cell["source"]):
                    cell["source"] = _fill("".join(cell["source"]), values)
            text = json.dumps(notebook, indent=1)
    target.write_text(_fill(text, values), encoding="utf-8")


def _reference(stem: str) -> str:
    return (ROOT / "solutions" / f"{stem}.py").read_text(encoding="utf-8")


def _zip(path: Path, members: dict) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            info = name if isinstance(name, zipfile.ZipInfo) else zipfile.ZipInfo(name)
            archive.writestr(info, content)


def _lying_bomb(path: Path, name: str) -> None:
    """A zip whose member ``name`` inflates to 1 GiB of zeros while its headers claim 1 KiB (built in milliseconds:
    one deflated MiB after a full flush is a byte-aligned block that can be repeated)."""
    mib, declared = 1 << 20, 1 << 10
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(mib)) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = block * 1024 + compressor.flush()
    crc, encoded = 1533330096, name.encode()  # crc32 of 2**30 zero bytes
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), declared, len(encoded), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, 0, 8, 0, 0x21, crc, len(data), declared,
                          len(encoded), 0, 0, 0, 0, 0o100644 << 16, 0) + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(encoded) + len(data), 0)
    path.write_bytes(local + encoded + data + central + end)


# the corpus's disguised copies of the reference Q2 (graded as correct here, flagged by test_similarity.py)
RUNNABLE_NO_OPS = [op for op in NO_OPS if op != "name_never_used"]  # these copies are run, not only read
SIMILARITY_EDITS = {
    "similarity_pass_inserted": TRIVIAL_EDITS["pass after each statement"],
    "similarity_noop_statements": lambda s: _after_each_statement(
        s, lambda n: RUNNABLE_NO_OPS[n % len(RUNNABLE_NO_OPS)]),
    "similarity_parentheses_comments": TRIVIAL_EDITS["extra parentheses and blank lines"]}


def _build(name: str, subs: Path, values: dict[str, str]) -> None:
    """The submissions that are binary (zips, UTF-16) or must never be stored (a zip bomb)."""
    q1, q2 = _reference("q1_expressivity"), _reference("q2_softmax_jacobian")
    marker = values["MARKER"]
    if name == "zip_traversal":
        escape = f"open('{values['OUT']}/ESCAPED-{marker}', 'w')\n"
        _zip(subs / "zip_traversal.zip", {
            "q1_expressivity.py": q1, "q2_softmax_jacobian.py": q2, f"../../ESCAPED-{marker}.py": escape,
            f"/tmp/ESCAPED-{marker}.py": escape, f"..\\..\\ESCAPED-{marker}.py": escape,
            f"C:/ESCAPED-{marker}.py": escape, f"a/../../ESCAPED-{marker}.py": escape, "../q1_expressivity.py": escape})
    elif name in SIMILARITY_EDITS:  # built from today's reference, so the disguised copy never goes stale
        (subs / name).mkdir()
        (subs / name / "q1_expressivity.py").write_text(q1, encoding="utf-8")
        (subs / name / "q2_softmax_jacobian.py").write_text(SIMILARITY_EDITS[name](q2), encoding="utf-8")
    elif name == "zip_symlink":
        link = zipfile.ZipInfo("q1_expressivity.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        _zip(subs / "zip_symlink.zip", {link: str(ROOT / "solutions" / "q1_expressivity.py"),
                                        "q2_softmax_jacobian.py": q2})
    elif name == "zip_bomb":
        _lying_bomb(subs / "zip_bomb.zip", "q1_expressivity.py")
        with zipfile.ZipFile(subs / "zip_bomb.zip", "a") as archive:
            archive.writestr("q2_softmax_jacobian.py", q2)
    elif name == "zip_corrupt":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("q1_expressivity.py", q1)
            archive.writestr("q2_softmax_jacobian.py", q2)
        (subs / "zip_corrupt.zip").write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])
    elif name == "gradebook.csv":
        _zip(subs / "gradebook.csv.zip", {"q1_expressivity.py": q1, "q2_softmax_jacobian.py": q2})
    elif name == "nb_utf16":
        import nbformat

        cell = nbformat.v4.new_code_cell(q1)
        text = nbformat.writes(nbformat.v4.new_notebook(cells=[cell]))
        (subs / name).mkdir()
        (subs / name / "q1_expressivity.ipynb").write_bytes(text.encode("utf-16"))
        (subs / name / "q2_softmax_jacobian.py").write_text(q2, encoding="utf-8")
    else:
        raise AssertionError(f"no builder for {name}")


def materialize(subs: Path, values: dict[str, str], names=None) -> None:
    """Write the corpus (or the entries ``names``) as a folder of submissions the grader can read."""
    subs.mkdir(parents=True)
    for name in names or sorted(EXPECTATIONS):
        spec = EXPECTATIONS[name]
        if spec.get("built"):
            _build(name, subs, values)
            continue
        target = subs / name
        target.mkdir()
        for source in sorted((CORPUS / name).rglob("*")):
            dest = target / source.relative_to(CORPUS / name)
            if source.is_dir():
                dest.mkdir()
            else:
                _fill_file(source, dest, values)
        for stem in spec["reference"]:
            (target / f"{stem}.py").write_text(_reference(stem), encoding="utf-8")


def pasted_q4_weights() -> tuple[str, float]:
    """Weights fitted to the original MNIST without training: a nearest-class-mean classifier carried through the
    sigmoid layers (each layer the same increasing function on the ten class scores, so their order survives).
    Returns them base64-encoded and their accuracy on the unpermuted test set."""
    from nnkit.data import load_mnist

    (x, y), (x_test, y_test) = load_mnist()
    x = x.reshape(-1, 784) / 255.0
    means = np.stack([x[y == k].mean(axis=0) for k in range(10)])
    w1, b1, w2, b2, w3, b3 = (np.zeros((784, 32)), np.zeros(32), np.zeros((32, 32)), np.zeros(32), np.zeros((32, 10)),
                              np.zeros(10))
    w1[:, :10], b1[:10] = 0.05 * means.T, -0.025 * (means ** 2).sum(axis=1)  # 0.05 * (x.m - |m|^2 / 2)
    w2[:10, :10], b2[:10] = 8 * np.eye(10), -4.0
    w3[:10, :10] = 50 * np.eye(10)
    hidden = x_test.reshape(-1, 784) / 255.0
    for w, b in ((w1, b1), (w2, b2)):
        hidden = 1 / (1 + np.exp(-(hidden @ w + b)))
    correct = int(np.sum(np.argmax(hidden @ w3 + b3, axis=1) == y_test))
    buffer = io.BytesIO()
    np.savez(buffer, **{name: a.astype(np.float32) for name, a in
                        zip(("W1", "b1", "W2", "b2", "W3", "b3"), (w1, b1, w2, b2, w3, b3))})
    return base64.b64encode(buffer.getvalue()).decode(), correct / len(y_test)


def pasted_q4_images(n: int = 1500) -> str:
    """The first ``n`` public MNIST training images and labels, zlib-compressed and base64-encoded (about 0.4 MB):
    what an attacker pastes to pair the grader's transformed rows with public images."""
    from nnkit.data import load_mnist

    (x, y), _ = load_mnist()
    raw = x[:n].reshape(n, 784).astype(np.uint8).tobytes() + y[:n].astype(np.uint8).tobytes()
    return base64.b64encode(zlib.compress(raw, 9)).decode()


def _kit_digest() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in KIT_DIRS for p in sorted((ROOT / d).rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def _git_status() -> set[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return set(out.splitlines())


def _processes_with(marker: bytes) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline.replace(bytes(1), b' ')[:200]!r}")
    return found


class Listener:
    """TCP sockets on localhost and an abstract unix socket of the host; records whatever connects."""

    def __init__(self, marker: str):
        self.received: list[str] = []
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        try:
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        except OSError:
            pass
        unix = socket.socket(socket.AF_UNIX)
        unix.bind(f"\0listener-{marker}")
        unix.listen()
        self.sockets.append(unix)
        for s in self.sockets:
            s.settimeout(0.5)
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while server.fileno() != -1:
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                self.received.append(repr(conn.recv(1 << 16)))

    def close(self) -> None:
        for s in self.sockets:
            s.close()


# Four at a time on two cores: the attacks that sleep or wait for a time limit (about 95 s each) then overlap with
# those that compute, and the class still runs with more submissions than cores, as on a busy grading machine.
JOBS = "4"


def _run_cli(subs: Path, out: Path, env: dict[str, str]) -> SimpleNamespace:
    cmd = [sys.executable, "-m", "grader.shipping.grade", "--submissions", str(subs), "--out", str(out), "-j", JOBS,
           "--require-sandbox"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=BATCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    return SimpleNamespace(returncode=proc.returncode, stdout=stdout, stderr=stderr,
                           seconds=time.monotonic() - started)


# The sandboxes the corpus runs in, and the environment that selects each.
MODES = {"bubblewrap": {}, "landlock": {"NNKIT_NO_BWRAP": "1"}}


def expectation(name: str, mode: str) -> dict:
    """The expectation of attack ``name`` in sandbox ``mode``: its entry, with what its ``modes`` entry says differs
    there (an error the student sees is another where another mechanism stops the attack)."""
    spec = EXPECTATIONS[name]
    return {**spec, **spec.get("modes", {}).get(mode, {})}


def batch_in_mode(mode: str):
    """The module fixture ``batch``: the corpus graded in sandbox ``mode``. This file grades it under bubblewrap,
    ``test_adversarial_landlock.py`` runs the same tests in the Landlock mode (two files, so that ``make test``'s
    pytest-xdist processes grade the two side by side)."""
    @pytest.fixture(scope="module", name="batch")
    def fixture(tmp_path_factory):
        return _grade_corpus(mode, tmp_path_factory)
    return fixture


batch = batch_in_mode("bubblewrap")


def _grade_corpus(mode: str, tmp_path_factory) -> SimpleNamespace:
    from grader.running import sandbox

    if mode == "bubblewrap" and not sandbox.bwrap_available():
        pytest.skip("needs bubblewrap: without it these attacks would run unconfined on this machine")
    if mode == "landlock" and sandbox.sandbox_mode() != "bubblewrap" and not sandbox.landlock_available():
        pytest.skip(f"this kernel cannot run the Landlock sandbox: {sandbox._landlock_trial()}")
    tmp = tmp_path_factory.mktemp(f"adversarial-{mode}")
    marker = "advmark" + secrets.token_hex(8)
    listener = Listener(marker)
    weights, pasted_accuracy = pasted_q4_weights()
    values = {"OUT": str(tmp / "out"), "SUBMISSIONS": str(tmp / "submissions"), "REPO": str(ROOT),
              "MARKER": marker, "PORT": str(listener.port), "CANARY": CANARY,
              "CONTROL_TOKEN": "control-token-" + secrets.token_hex(16), "Q4_WEIGHTS": weights,
              "Q4_IMAGES": pasted_q4_images()}
    canary = "canary-" + secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "NNKIT_NO_BWRAP"} | {CANARY: canary} | MODES[mode]

    materialize(tmp / "alone", values, ["control"])
    alone = _run_cli(tmp / "alone", tmp / "out-alone", env)
    kit_before, git_before = _kit_digest(), _git_status()
    materialize(tmp / "submissions", values)
    run = _run_cli(tmp / "submissions", tmp / "out", env)
    time.sleep(1)  # anything that outlived the batch has had time to show up
    leftovers = _processes_with(marker.encode())
    listener.close()
    return SimpleNamespace(mode=mode, run=run, alone=alone, out=tmp / "out", out_alone=tmp / "out-alone", values=values,
                           marker=marker, canary=canary, listener=listener, leftovers=leftovers,
                           kit_before=kit_before, kit_after=_kit_digest(), git_before=git_before,
                           git_after=_git_status(), pasted_accuracy=pasted_accuracy)


def _gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def _unescaped(markdown: str) -> str:
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>~])", r"\1", markdown)


def test_batch_completes(batch):
    run = batch.run
    assert run.returncode == 0, f"exit status {run.returncode} after {run.seconds:.0f} s\n{run.stderr[-4000:]}"
    assert "GRADER ERROR" not in run.stderr, run.stderr[-4000:]
    assert batch.alone.returncode == 0, batch.alone.stderr[-4000:]
    print(f"graded {len(EXPECTATIONS)} adversarial submissions in {run.seconds:.0f} s ({batch.mode})")
    results = json.loads((batch.out / "control" / "results.json").read_text(encoding="utf-8"))
    meta = json.loads((batch.out / "control" / "meta.json").read_text(encoding="utf-8"))
    assert meta["sandbox"] == batch.mode and f"({'Landlock' if batch.mode == 'landlock' else 'bubblewrap'}" in \
        results["output"], (meta["sandbox"], results["output"])


def _question_problems(results: dict, stem: str, want, batch) -> list[str]:
    """How the checks of question ``stem`` differ from ``want``: 0, "full", {"fails": [...]} (the checks whose name
    holds one of the phrases fail with 0 points, the others pass), {"passes": [...]} (the reverse) or {"like": id}
    (every check scores exactly as it does for submission ``id``, an honest answer that behaves the same)."""
    tests = [(t["name"], t["status"], t["score"], t["max_score"]) for t in results["tests"] if t["tags"][0] == stem]
    if want == 0:
        return [f"{n}: {score}" for n, _, score, _ in tests if score != 0]
    if want == "full":
        return [f"{n}: {status}" for n, status, score, top in tests if status != "passed" or score != top]
    if "like" in want:
        baseline = json.loads((batch.out / want["like"] / "results.json").read_text(encoding="utf-8"))
        like = [(t["name"], t["status"], t["score"], t["max_score"]) for t in baseline["tests"]
                if t["tags"][0] == stem]
        return [] if tests == like else [f"differs from {want['like']}: {tests} != {like}"]
    phrases = want.get("fails") or want["passes"]
    problems = []
    for name, status, score, top in tests:
        fails = any(p in name for p in phrases) == ("fails" in want)
        if fails and (status != "failed" or score != 0):
            problems.append(f"{name}: {status} {score}, expected to fail")
        if not fails and (status != "passed" or score != top):
            problems.append(f"{name}: {status} {score}, expected to pass")
    return problems + ([] if [n for n, *_ in tests if any(p in n for p in phrases)] else [f"no check like {phrases}"])


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_attack_scores_what_it_should(batch, name):
    spec = expectation(name, batch.mode)
    rows = _gradebook(batch.out)
    if spec.get("skipped"):
        assert name not in rows and (batch.out / name).is_file()
        assert f"skipped: {name}.zip: skipped" in batch.run.stderr
        return
    assert name in rows, f"{name} is missing from the gradebook:\n{batch.run.stderr[-3000:]}"
    results = json.loads((batch.out / name / "results.json").read_text(encoding="utf-8"))
    problems = {stem: _question_problems(results, stem, spec["scores"].get(stem, 0), batch) for stem in STEMS}
    assert {stem: p for stem, p in problems.items() if p} == {}, f"{name} ({spec['attack']})"
    assert float(rows[name]["total"]) == pytest.approx(results["score"], abs=0.01)
    feedback = _unescaped((batch.out / name / "feedback.md").read_text(encoding="utf-8"))
    for phrase in spec["feedback"]:
        assert phrase in feedback, f"{name}: {phrase!r} not in its feedback"


def _solution_comment(stem: str) -> str:
    """A comment inside a solution region: only a copy of the solution file can carry it."""
    text = (ROOT / "solutions" / f"{stem}.py").read_text(encoding="utf-8")
    region = text[text.index("# BEGIN SOLUTION") + len("# BEGIN SOLUTION"):text.index("# END SOLUTION")]
    return next(line.strip() for line in region.splitlines() if line.strip().startswith("# "))


def test_no_secret_reaches_any_output(batch):
    """Nothing read from the grader's side shows up in what the grader wrote (each student's copy of their own
    submission and the instructor's similarity report, which quotes submissions, aside)."""
    everywhere = {"the grader's environment (canary)": batch.canary}
    for path in sorted((ROOT / "grader" / "checks" / "hidden").glob("test_*.py")):
        everywhere[f"the source of {path.name}"] = path.read_text(encoding="utf-8").splitlines()[0]
    not_copied = {f"a comment of solutions/{stem}.py": _solution_comment(stem)
                  for stem in ("q1_expressivity", "q2_softmax_jacobian")}
    outputs = {str(p.relative_to(batch.out)): p.read_bytes().decode(errors="replace")
               for p in batch.out.rglob("*") if p.is_file()}
    outputs["grader stdout"], outputs["grader stderr"] = batch.run.stdout, batch.run.stderr
    leaks = []
    for where, text in outputs.items():
        text = text.lower()
        # a student's copy of their own files, the similarity report, and the raw check record kept in OUT for the
        # cache (it quotes the student's own tracebacks and is never handed back)
        own = where.split("/")[1:2] == ["submission"] or where == "similarity.html" or where.endswith("/record.json")
        leaks += [f"{what} in {where}" for what, secret in everywhere.items() if secret.lower() in text]
        leaks += [f"{what} in {where}" for what, secret in not_copied.items() if not own and secret.lower() in text]
        if not (own or where.startswith("control/")) and batch.values["CONTROL_TOKEN"] in text:
            leaks.append(f"another student's file in {where}")
    assert leaks == []


def test_control_is_graded_as_if_alone(batch):
    def files(sub: Path) -> dict[str, bytes]:
        # record.json: the raw record with each worker's timings (its results are in results.json). Plots are drawn
        # from the visible checks' inputs, fresh for each run: their presence is compared, not their pixels.
        found = {str(p.relative_to(sub)): (b"" if p.suffix == ".png" else p.read_bytes())
                 for p in sorted(sub.rglob("*")) if p.is_file() and p.name != "record.json"}
        found["feedback.html"] = re.sub(rb"data:image/png;base64,[A-Za-z0-9+/=]+", b"", found["feedback.html"])
        for name in ("results.json", "meta.json"):
            data = json.loads(found[name])
            data.pop("execution_time", None)
            data.pop("cache_key", None)  # a digest of the kit, which may be edited between two runs
            found[name] = json.dumps(data, sort_keys=True).encode()
        return found

    alone, within = files(batch.out_alone / "control"), files(batch.out / "control")
    assert alone.keys() == within.keys()
    assert [name for name in alone if alone[name] != within[name]] == []
    assert _gradebook(batch.out_alone)["control"] == _gradebook(batch.out)["control"]


def test_kit_and_repository_unchanged(batch):
    changed = sorted(k for k in batch.kit_before.keys() | batch.kit_after.keys()
                     if batch.kit_before.get(k) != batch.kit_after.get(k))
    assert changed == []
    assert batch.git_after == batch.git_before


def test_no_stray_files(batch):
    """The output folder holds what the grader writes (as for the control graded alone) and nothing else."""
    ids = {name for name, spec in EXPECTATIONS.items() if not spec.get("skipped")}
    batch_files = {p.name for p in batch.out_alone.iterdir()} - {"control"}
    assert {p.name for p in batch.out.iterdir()} == ids | batch_files
    per_student = {p.name for p in (batch.out_alone / "control").iterdir()}
    for sub in batch.out.iterdir():
        if sub.name in ids:
            assert {p.name for p in sub.iterdir()} <= per_student, sub.name
            assert {p.name for p in (sub / "plots").glob("*")} <= PLOTS, sub.name
            assert {p.name for p in (sub / "submission").glob("*")} <= {f"{stem}.py" for stem in STEMS}, sub.name
    forged = [f"{prefix}-{batch.marker}" for prefix in ("FORGED", "PWNED", "SHADOW", "daemon")]  # file contents
    for path in batch.out.rglob("*"):
        assert batch.marker not in path.name
        if path.is_file() and path.parent.name != "submission" and path.name != "similarity.html":
            text = path.read_bytes().decode(errors="replace")
            assert not [f for f in forged if f in text], path
    elsewhere = [p for d in ("/tmp", "/dev/shm", "/var/tmp", str(ROOT), str(ROOT.parent), str(ROOT / "grades"))
                 for p in Path(d).glob(f"*{batch.marker}*")]
    assert elsewhere == []


def test_nothing_outlives_the_batch(batch):
    assert batch.leftovers == []


def test_nothing_reaches_the_network(batch):
    assert batch.listener.received == []


def test_reports_stay_well_formed(batch):
    import xml.etree.ElementTree as ElementTree

    import mistune

    from grader.reporting.report import fmt_points

    for path in batch.out.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    suites = ElementTree.parse(batch.out / "junit.xml").getroot()
    names = {suite.get("name") for suite in suites.iter("testsuite")}
    assert names == {name for name, spec in EXPECTATIONS.items() if not spec.get("skipped")}
    assert not [case for case in suites.iter("testcase") if case.get("name") == "forged"]
    html = (batch.out / "feedback_injection" / "feedback.html").read_text(encoding="utf-8")
    assert "<script" not in html and "<img" not in html and "\x1b" not in html
    markdown = (batch.out / "feedback_injection" / "feedback.md").read_text(encoding="utf-8")
    results = json.loads((batch.out / "feedback_injection" / "results.json").read_text(encoding="utf-8"))
    rendered = mistune.html(markdown)
    assert rendered.count("<strong>Total:") == 1 and f"<strong>Total: {fmt_points(results['score'])} / " in rendered
    assert "<script" not in rendered and "<img" not in rendered


def test_pasted_q4_weights_would_pass_without_the_permutation(batch):
    """The Q4 attack is real: its weights pass the training check on the original pixel order."""
    assert batch.pasted_accuracy >= 0.75


def test_hidden_check_inputs_never_reach_the_student(batch):
    shown = []
    for sub in batch.out.iterdir():
        if sub.is_dir() and (sub / "feedback.md").exists():
            results = json.loads((sub / "results.json").read_text(encoding="utf-8"))
            visible = " ".join(t["output"] for t in results["tests"] if t["visibility"] == "visible")
            text = (sub / "feedback.md").read_text(encoding="utf-8") + visible
            shown += [f"{what} in {sub.name}" for what in ("hbox_", "happrox_") if what in text]
    assert shown == []


def test_image_matching_attack_would_pass_without_the_replay(tmp_path):
    """The whole-image attack is real: its weights, carried through the mixing it recovers, would earn the accuracy
    check; only the replay of each epoch stops it."""
    import importlib.util

    from grader.checking import checklib
    from nnkit.data import load_mnist
    from questions.q4_numpy_backprop.checks import FULL_AT, performance

    weights, _ = pasted_q4_weights()
    source = tmp_path / "attack.py"
    _fill_file(CORPUS / "q4_image_matching" / "q4_numpy_backprop.py", source,
               {"Q4_WEIGHTS": weights, "Q4_IMAGES": pasted_q4_images()})
    spec = importlib.util.spec_from_file_location("image_matching_attack", source)
    attack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(attack)
    (x, y), (x_test, y_test) = load_mnist()
    trained = attack.train(checklib.mixed(x), y.astype(np.int64), epochs=3)
    _, correct = performance(*trained, checklib.mixed(x_test), y_test)
    assert correct / len(y_test) >= FULL_AT
