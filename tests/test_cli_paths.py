"""`nnkit grade` from any folder: relative --submissions and --out are the caller's, never the kit's."""

import json
import shutil
import subprocess
import sys

from conftest import ROOT


def test_relative_paths_are_the_callers(tmp_path):
    subs = tmp_path / "subs" / "ann"
    subs.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / "q2_softmax_jacobian.py", subs)
    before = {p.name for p in ROOT.iterdir()}
    proc = subprocess.run([sys.executable, "-m", "grader.shipping.cli", "grade", "--submissions", "subs", "--out",
                           "out", "--skip-training", "-j", "1"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "out" / "ann" / "results.json").read_text(encoding="utf-8"))
    q2 = [t for t in results["tests"] if t["tags"][0] == "q2_softmax_jacobian" and t["visibility"] == "visible"]
    assert q2 and all(t["score"] == t["max_score"] for t in q2)
    assert {p.name for p in ROOT.iterdir()} - before == set()
