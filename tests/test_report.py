"""The reports rendered from results.json and meta.json: feedback, gradebook, JUnit XML, atomic writes, the schema."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
import stat

import pytest
from junitparser import JUnitXml
from markdown_it import MarkdownIt

from grader import files
from grader.reporting import report

XSS = "<script>alert(1)</script>"
# the smallest valid PNG: one transparent pixel
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5Er"
                       "kJggg==")


def check(name, score, max_score, stem, *, status=None, output="", visibility="visible", number=None):
    test = {"name": name, "score": score, "max_score": max_score,
            "status": status or ("passed" if score == max_score else "failed"),
            "output": output, "visibility": visibility, "tags": [stem]}
    if number is not None:
        test["number"] = number
    return test


def sample_tests():
    return [
        check("Q1a: the box network is h on (0, delta) and 0 outside", 2.0, 2.0, "q1_expressivity", number="1.1"),
        check("Q1b: approximate_function stays within 0.2 of f", 1.5, 3.0, "q1_expressivity", number="1.2",
              output="expected: max error <= 0.2\ngot:      0.47 at x = 1.999\nhint: the last box ends at B - 2B/N"),
        check("Q1b: approximate_function uses at most 2N neurons", 0.0, 1.0, "q1_expressivity", number="1.3",
              output="SECRET-HIDDEN-OUTPUT", visibility="hidden"),
        check("Q2: softmax_jacobian matches central differences", 0.0, 4.0, "q2_softmax_jacobian", number="2.1",
              output=f"expected: J[i, j] = dy_i/dz_j\ngot:      a diagonal matrix {XSS}\n"
                     "hint: off-diagonals are -y_i y_j"),
        check("Q2: symbolic_jacobian agrees numerically", 0.0, 2.0, "q2_softmax_jacobian", number="2.2",
              output="SECRET-AFTER-PUBLISHED", visibility="after_published"),
        check("Q3: build_model has the required layers", 0.0, 4.0, "q3_fashion_mnist", number="3.1",
              output="your code did not finish in time"),
        check("Q4: backward matches the gradient check", 6.0, 6.0, "q4_numpy_backprop", number="4.1"),
        check("Q4: train reaches 90% accuracy", 0.1, 0.3, "q4_numpy_backprop", number="4.2", output="71.3%"),
        check("Q4: evaluate is vectorised", 0.2, 0.3, "q4_numpy_backprop", number="4.3", output="slow"),
    ]


def sample_meta(student_id="alice"):
    return {
        "student_id": student_id, "kit_version": "0.1.0", "digest": "sha256:0123abcd", "sandboxed": True,
        "questions": {
            "q1_expressivity": {"source": "notebook", "notes": ["removed 2 IPython magics (%matplotlib inline)"],
                                "error": "", "worker": "ok", "stdout": "hello from Q1\n"},
            "q2_softmax_jacobian": {"source": "module", "notes": [XSS], "error": "", "worker": "ok",
                                    "stdout": XSS},
            "q3_fashion_mnist": {"source": "module", "notes": [], "error": "", "stdout": "",
                                 "worker": "timed out after 60 s (killed)"},
            "q4_numpy_backprop": {"source": "module", "notes": [], "error": "", "worker": "ok", "stdout": ""},
        },
        "general": ["ignored 2 other files: scratch.py, notes.txt"],
        "plots": {"q1_expressivity": "plots/q1b.png", "q3_fashion_mnist": "plots/q3_curves.png"},
    }


def write_submission(out, student_id="alice", tests=None, meta=None, plots=("plots/q1b.png",), **top):
    sub = out / student_id
    (sub / "plots").mkdir(parents=True)
    tests = sample_tests() if tests is None else tests
    results = {"score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests),
               "execution_time": 93.2, "output": "Graded 4 questions in a sandbox (bubblewrap).",
               "visibility": "visible", "stdout_visibility": "visible", "tests": tests, **top}
    (sub / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (sub / "meta.json").write_text(json.dumps(sample_meta(student_id) if meta is None else meta), encoding="utf-8")
    for rel in plots:
        (sub / rel).write_bytes(PNG)
    return sub


def feedback(sub):
    report.write_feedback(sub)
    return (sub / "feedback.md").read_text(encoding="utf-8"), (sub / "feedback.html").read_text(encoding="utf-8")


def test_feedback_shows_scores_titles_failure_output_and_notes(tmp_path):
    md, page = feedback(write_submission(tmp_path))
    for text in (md, page):
        assert "alice" in text
        assert "17.5 / 40" not in text  # the sample's total is its own sum, checked next
        assert "9.8 / 22.6" in text
        assert "3.5 / 6" in text  # Q1: 2 + 1.5 + 0 of 2 + 3 + 1
        assert "Graded from your notebook." in text
        assert "removed 2 IPython magics (%matplotlib inline)" in text
        assert "ignored 2 other files: scratch.py, notes.txt" in text
        assert "Graded 4 questions in a sandbox (bubblewrap)." in text
        assert "what was expected, what came back" in text
        assert "hello from Q1" in text
        assert "sha256:0123abcd" in text
    assert "✔ **Q1a** the box network is h on (0, delta) and 0 outside (2 / 2)" in md
    assert "✘ **Q1b** approximate_function stays within 0.2 of f (1.5 / 3)" in md
    assert ("```text\nexpected: max error <= 0.2\ngot:      0.47 at x = 1.999\n"
            "hint: the last box ends at B - 2B/N\n```") in md
    assert "| Q1 · Step-function expressivity | 3.5 / 6 | 1 of 3 |" in md
    assert "approximate_function stays within 0.2 of f" in page
    assert "expected: max error &lt;= 0.2\ngot:      0.47 at x = 1.999" in page
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page


def test_question_label_is_not_repeated_on_each_check(tmp_path):
    md, _ = feedback(write_submission(tmp_path))
    assert "✘ softmax_jacobian matches central differences (0 / 4)" in md
    assert "**Q2**" not in md


def test_partial_credit_is_marked_partial(tmp_path):
    _, page = feedback(write_submission(tmp_path))
    assert page.count('class="check partial"') == 3  # Q1b 1.5/3, Q4 0.1/0.3 and 0.2/0.3
    assert page.count('class="check failed"') == 4


def test_hidden_and_after_published_outputs_are_never_shown(tmp_path):
    md, page = feedback(write_submission(tmp_path))
    for text in (md, page):
        assert "SECRET" not in text
        assert "uses at most 2N neurons" in text and "symbolic" in text  # titles and scores stay
    assert "(0 / 1) *hidden check: its details are not shown*" in md
    assert page.count("Hidden check: its details are not shown.") == 2


def test_top_level_visibility_is_the_default_for_checks(tmp_path):
    tests = [check("Q1a: inherits", 0.0, 1.0, "q1_expressivity", output="SECRET-INHERITED"),
             check("Q1b: overrides", 0.0, 1.0, "q1_expressivity", output="shown after the deadline",
                   visibility="after_due_date")]
    del tests[0]["visibility"]
    md, page = feedback(write_submission(tmp_path, tests=tests, visibility="after_published"))
    for text in (md, page):
        assert "SECRET-INHERITED" not in text
        assert "shown after the deadline" in text


def test_html_escapes_student_text_everywhere(tmp_path):
    meta = sample_meta()
    meta["general"] = [XSS]
    meta["student_id"] = XSS
    meta["questions"]["q4_numpy_backprop"]["error"] = f"Traceback: {XSS}"
    tests = sample_tests()
    tests[0]["name"] = f"Q1a: {XSS}"
    _, page = feedback(write_submission(tmp_path, tests=tests, meta=meta))
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 6  # name, id, title, note, general, output, stdout, error


def test_html_is_self_contained(tmp_path):
    _, page = feedback(write_submission(tmp_path))
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert html.unescape(csp[1]).startswith("default-src 'none';")
    assert all(src.startswith("data:") for src in re.findall(r'\ssrc="([^"]*)"', page))
    assert all(href.startswith("#") for href in re.findall(r'\shref="([^"]*)"', page))
    assert not re.search(r"<link|@import|url\(", page)


def test_plots_are_embedded_as_data_uris_and_missing_ones_are_noted(tmp_path):
    md, page = feedback(write_submission(tmp_path))
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in page
    assert page.count("<img ") == 1
    assert "No plot: <code>plots/q3_curves.png</code> was not produced" in page
    assert "![Q1: q1b.png](<plots/q1b.png>)" in md
    assert "No plot: `plots/q3_curves.png` was not produced" in md
    assert "](<plots/q3_curves.png>)" not in md


def test_plot_paths_outside_the_submission_are_not_embedded(tmp_path):
    (tmp_path / "secret.png").write_bytes(PNG)
    meta = sample_meta()
    meta["plots"] = {"q1_expressivity": "../secret.png", "q4_numpy_backprop": str(tmp_path / "secret.png")}
    md, page = feedback(write_submission(tmp_path, meta=meta))
    assert "<img " not in page and "data:image" not in page
    assert md.count("No plot:") == 2


def test_timed_out_question_is_explained(tmp_path):
    md, page = feedback(write_submission(tmp_path))
    for text in (md, page):
        assert "Your code for this question was stopped: timed out after 60 s (killed)." in text
        assert "the whole question scores 0" in text
        assert "a loop that never ends" in text
    assert "| 0 of 1 · stopped |" in md


def test_worker_error_is_shown(tmp_path):
    meta = sample_meta()
    meta["questions"]["q4_numpy_backprop"]["error"] = "ImportError: No module named 'torch'"
    md, _ = feedback(write_submission(tmp_path, meta=meta))
    assert ("The grader reported this problem with your code for this question:\n\n"
            "```text\nImportError: No module") in md


def test_all_passed_says_so(tmp_path):
    tests = [check("Q1a: fine", 2.0, 2.0, "q1_expressivity")]
    md, page = feedback(write_submission(tmp_path, tests=tests, plots=()))
    assert "Every check passed. Well done." in md and "Every check passed. Well done." in page
    assert "✘" not in md


def test_feedback_survives_missing_meta(tmp_path):
    sub = write_submission(tmp_path, plots=())
    (sub / "meta.json").unlink()
    md, page = feedback(sub)
    assert "# Feedback for alice" in md and "9.8 / 22.6" in page


@pytest.mark.parametrize("content", [None, "{not json", '{"score": 1}', '{"score": NaN, "tests": []}'])
def test_unusable_results_give_a_calm_feedback(tmp_path, content):
    sub = write_submission(tmp_path)
    if content is None:
        (sub / "results.json").unlink()
    else:
        (sub / "results.json").write_text(content, encoding="utf-8")
    md, page = feedback(sub)
    for text in (md, page):
        assert "Your results could not be read" in text and "not with your code" in text
        assert "results.json" in text


def test_failure_output_with_backticks_stays_in_one_code_block(tmp_path):
    output = "expected:\n```\nnot a fence end\n````\n<b>bold?</b>"
    md, _ = feedback(write_submission(tmp_path, tests=[check("Q1a: ticks", 0.0, 1.0, "q1_expressivity",
                                                              output=output)], plots=()))
    fences = [t for t in MarkdownIt("commonmark").parse(md) if t.type == "fence"]
    assert output in [t.content.rstrip("\n") for t in fences]


@pytest.mark.parametrize("text", [XSS, "a_b _c_ *d* [link](http://x) ![i](y)", "# heading", "1. item", "- item",
                                  "| a | b |", "&amp; &copy;", "`code` ``x``", "~~strike~~", "back\\slash",
                                  "0.1.0", "> quote"])
def test_md_inline_renders_literally(text):
    rendered = MarkdownIt("commonmark").render(report.md_inline(text))
    assert rendered == f"<p>{html.escape(text, quote=False).replace(chr(34), '&quot;')}</p>\n"


def test_text_is_cleaned_of_terminal_noise_and_invalid_characters(tmp_path):
    noisy = "\x1b[31mred\x1b[0m\nEpoch 1/3\n 10/100 [..]\r100/100 [====]\nnul\x00 and \ud800 lone"
    tests = [check("Q1a: noisy", 0.0, 1.0, "q1_expressivity", output=noisy)]
    md, page = feedback(write_submission(tmp_path, tests=tests, plots=()))
    for text in (md, page):
        assert "red\nEpoch 1/3\n100/100 [====]\nnul\ufffd and \ufffd lone" in text
        assert "\x1b" not in text and "10/100" not in text


def test_long_output_is_truncated(tmp_path):
    tests = [check("Q1a: chatty", 0.0, 1.0, "q1_expressivity", output="x" * (report.MAX_OUTPUT_CHARS + 500))]
    md, _ = feedback(write_submission(tmp_path, tests=tests, plots=()))
    assert "… (500 more characters not shown)" in md


@pytest.mark.parametrize(("x", "s"), [(17.5, "17.5"), (2.0, "2"), (0.1 + 0.2, "0.3"), (1 / 3, "0.33"), (0, "0"),
                                      (-0.0, "0"), (40, "40"), (123456.0, "123456")])
def test_fmt_points(x, s):
    assert report.fmt_points(x) == s


def read_gradebook(out):
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_gradebook_sums_per_question_sorted_with_a_flagged_corrupt_row(tmp_path):
    dirs = [write_submission(tmp_path, "carol", plots=()), write_submission(tmp_path, "alice", plots=()),
            write_submission(tmp_path, "bob", plots=()), write_submission(tmp_path, "dave", plots=())]
    (tmp_path / "bob" / "results.json").write_text("{truncated", encoding="utf-8")
    (tmp_path / "dave" / "results.json").unlink()
    report.write_gradebook(tmp_path, dirs)
    header = (tmp_path / "gradebook.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(report.gradebook_header())
    assert header.startswith("student_id,q1_expressivity,q2_softmax_jacobian,q3_fashion_mnist,q4_numpy_backprop,"
                             "late_penalty,total,max")
    rows = read_gradebook(tmp_path)
    assert [r["student_id"] for r in rows] == ["alice", "bob", "carol", "dave"]
    alice = rows[0]
    assert (alice["q1_expressivity"], alice["q2_softmax_jacobian"], alice["q3_fashion_mnist"],
            alice["q4_numpy_backprop"], alice["total"], alice["max"]) == ("3.5", "0", "0", "6.3", "9.8", "22.6")
    assert alice["note"] == "q3_fashion_mnist: timed out after 60 s (killed)"
    assert rows[2] == {**alice, "student_id": "carol"}
    for bad, why in ((rows[1], "not valid JSON"), (rows[3], "results.json is missing")):
        assert [bad[c] for c in report.gradebook_header()[1:-1]] == [""] * 7
        assert bad["note"].startswith("not graded: ") and why in bad["note"]


def test_gradebook_has_no_float_noise(tmp_path):
    tests = [check("Q4: a", 0.1, 0.1, "q4_numpy_backprop"), check("Q4: b", 0.2, 0.2, "q4_numpy_backprop")]
    sub = write_submission(tmp_path, tests=tests, plots=())
    report.write_gradebook(tmp_path, [sub])
    text = (tmp_path / "gradebook.csv").read_text(encoding="utf-8")
    assert "0.30000000000000004" not in text
    assert read_gradebook(tmp_path)[0]["q4_numpy_backprop"] == "0.3"


def test_gradebook_flags_a_schema_invalid_results_and_neutralises_formulas(tmp_path):
    sub = write_submission(tmp_path, "=HYPERLINK(1)", tests=[check("Q1a: x", 1.0, 1.0, "q1_expressivity")])
    data = json.loads((sub / "results.json").read_text(encoding="utf-8"))
    data["tests"][0]["status"] = "ok"
    (sub / "results.json").write_text(json.dumps(data), encoding="utf-8")
    report.write_gradebook(tmp_path, [sub])
    row = read_gradebook(tmp_path)[0]
    assert row["student_id"] == "'=HYPERLINK(1)"
    assert "does not match the schema at $.tests[0].status" in row["note"]


# A student's error text and id, as an attacker writes them: a formula after each separator a spreadsheet may split
# on (";" in many locales, tab, ",") and after line breaks, with blanks before it and control characters around it.
INJECTIONS = ("x;=cmd|' /C calc'!A0", "ok\t=1+1", "a, +cmd|' /C calc'!A0", "line\n=HYPERLINK(\"http://evil\")",
              "cr\r@SUM(A1:A9)", "nel\x85-2+3", "x;   =1", "ff\x0c=1 and nul\x00=2", "=start", "\u2028=sep")
FORMULA = re.compile(r"^\s*[=+\-@]")


def _cells_in_every_reading(path):
    """Every cell of the CSV file at ``path`` as a comma, a semicolon and a tab-separated reader sees it."""
    text = path.read_text(encoding="utf-8")
    assert "\r" not in text and len(text.splitlines()) == text.count("\n")
    for delimiter in (",", ";", "\t"):
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            yield from row
    for line in text.splitlines():  # a reader that ignores quotes
        yield from re.split(r"[,;\t]", line)


def _formula_cells(path):
    def number(cell):
        try:
            float(cell)
            return True
        except ValueError:
            return False
    return [cell for cell in _cells_in_every_reading(path) if FORMULA.match(cell) and not number(cell)]


@pytest.mark.parametrize("text", INJECTIONS)
def test_csv_safe_neutralises_formulas_after_any_separator(text):
    cell = files.csv_safe(text)
    assert not re.search(r"(^|[;,\t])\s*[=+\-@]", cell), cell
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", cell), cell
    assert files.csv_safe(cell) == cell
    assert files.csv_key(cell) == files.csv_key(text)


def test_csv_safe_keeps_plain_text_and_caps_length():
    assert files.csv_safe("q3_fashion_mnist: timed out after 60 s (killed)") == (
        "q3_fashion_mnist: timed out after 60 s (killed)")
    assert files.csv_safe("a  b\n\nc") == "a b c"
    assert files.csv_safe("x" * 500, 80) == "x" * 79 + "…"
    assert files.csv_safe("bad \udcff name") == "bad \ufffd name"  # a non-UTF-8 name can still be written
    assert files.csv_key("'=eve") == files.csv_key("=eve") == "=eve"


def test_gradebook_cells_are_text_in_comma_semicolon_and_tab_readings(tmp_path):
    """Ids and worker errors carrying formulas: no cell starts a formula in any reading; numbers stay numbers."""
    dirs = []
    for n, text in enumerate(INJECTIONS):
        meta = sample_meta()
        meta["questions"]["q1_expressivity"]["worker"] = f"RuntimeError: {text}\n" + text * 2000
        ident = text.replace("\n", " ").replace("\r", " ").replace("\x00", " ").replace("\x85", " ").replace(
            "\x0c", " ")  # a file name cannot hold these, the rest it can
        dirs.append(write_submission(tmp_path, f"{n}{ident}", meta=meta, plots=()))
    (dirs[0] / "results.json").write_text(json.dumps({"score": "=1+1"}), encoding="utf-8")
    report.write_gradebook(tmp_path, dirs)
    assert _formula_cells(tmp_path / "gradebook.csv") == []
    rows = read_gradebook(tmp_path)
    assert len(rows) == len(INJECTIONS)
    for row in rows:
        assert len(row["note"]) <= report.NOTE_CHARS
        if row["total"]:
            assert float(row["total"]) == pytest.approx(9.8) and float(row["q1_expressivity"]) == 3.5
            assert row["note"].startswith("q1_expressivity: ")
            assert len(row["note"].split("; q3_fashion_mnist")[0]) <= len("q1_expressivity: ") + 80
    assert sorted(files.csv_key(r["student_id"]) for r in rows) == sorted(files.csv_key(d.name) for d in dirs)


def test_junit_parses_with_the_right_counts(tmp_path):
    dirs = [write_submission(tmp_path, "bob", plots=()), write_submission(tmp_path, "alice", plots=())]
    (tmp_path / "bob" / "results.json").write_text("[]", encoding="utf-8")
    report.write_junit(tmp_path, dirs)
    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    suites = list(xml)
    assert [s.name for s in suites] == ["alice", "bob"]
    alice, bob = suites
    assert (alice.tests, alice.failures, alice.errors) == (9, 7, 0)
    assert alice.time == pytest.approx(93.2)
    assert {p.name: p.value for p in alice.properties()} == {"score": "9.8", "max_score": "22.6"}
    cases = list(alice)
    assert cases[0].classname == "alice.q1_expressivity"
    assert cases[0].name == "Q1a: the box network is h on (0, delta) and 0 outside" and cases[0].is_passed
    failed = cases[1].result[0]
    assert failed.message == "scored 1.5 of 3 points"
    assert failed.text.startswith("expected: max error <= 0.2\ngot:")
    assert "SECRET-HIDDEN-OUTPUT" in cases[2].result[0].text  # instructors see hidden outputs
    assert (bob.tests, bob.failures, bob.errors) == (1, 0, 1)
    assert (xml.tests, xml.failures, xml.errors) == (10, 7, 1)


def test_junit_survives_control_characters(tmp_path):
    tests = [check("Q1a: \x1b[1mbold\x1b[0m", 0.0, 1.0, "q1_expressivity", output="nul\x00 esc\x1b[31m bell\x07")]
    sub = write_submission(tmp_path, tests=tests, plots=())
    report.write_junit(tmp_path, [sub])
    case = next(iter(next(iter(JUnitXml.fromfile(str(tmp_path / "junit.xml"))))))
    assert case.name == "Q1a: bold"
    assert case.result[0].text == "nul\ufffd esc bell\ufffd"


def test_atomic_write_replaces_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "feedback.md"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    report.atomic_write_text(target, "new ✔\n")
    assert target.read_text(encoding="utf-8") == "new ✔\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    report.atomic_write_bytes(tmp_path / "fresh.bin", b"\x00\x01")
    assert (tmp_path / "fresh.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedback.md", "fresh.bin"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "gradebook.csv"
    target.write_text("old", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        report.atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["gradebook.csv"]


def test_write_feedback_leaves_only_the_reports(tmp_path):
    sub = write_submission(tmp_path, plots=())
    report.write_feedback(sub)
    report.write_feedback(sub)
    assert sorted(p.name for p in sub.iterdir()) == ["feedback.html", "feedback.md", "meta.json", "plots",
                                                      "results.json"]


def schema_errors(data):
    return list(report.results_validator().iter_errors(data))


def sample_results():
    tests = sample_tests()
    return {"score": 9.8, "max_score": 22.6, "execution_time": 93.2, "output": "Graded.", "visibility": "visible",
            "stdout_visibility": "hidden", "output_format": "text", "tests": tests}


def test_schema_accepts_the_results_we_write():
    assert schema_errors(sample_results()) == []
    minimal = {"score": 0, "tests": [{"name": "Q1a: x", "score": 0, "max_score": 1, "status": "failed",
                                      "tags": ["q1_expressivity", "extra-tag"], "name_format": "text",
                                      "output_format": "md", "extra_data": {}}]}
    assert schema_errors(minimal) == []


@pytest.mark.parametrize("break_it", [
    lambda r: r["tests"][0].update(status="ok"),
    lambda r: r["tests"][0].pop("max_score"),
    lambda r: r["tests"][0].pop("status"),
    lambda r: r["tests"][0].update(visiblity="hidden"),
    lambda r: r["tests"][0].update(visibility="students"),
    lambda r: r["tests"][0].update(tags=["q5_transformers"]),
    lambda r: r["tests"][0].update(tags=[]),
    lambda r: r["tests"][0].update(score=-1),
    lambda r: r["tests"][0].update(score="2"),
    lambda r: r.pop("score"),
    lambda r: r.update(output_format="pdf"),
    lambda r: r.update(unknown=1),
])
def test_schema_rejects_malformed_results(tmp_path, break_it):
    results = sample_results()
    break_it(results)
    assert schema_errors(results)
    (tmp_path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    with pytest.raises(report.ResultsError, match="does not match the schema"):
        report.load_results(tmp_path)


def test_main_renders_a_whole_output_directory(tmp_path, capsys):
    write_submission(tmp_path, "alice", plots=())
    write_submission(tmp_path, "bob", plots=())
    (tmp_path / "not-a-submission").mkdir()
    assert report.main([str(tmp_path)]) == 0
    assert (tmp_path / "alice" / "feedback.html").exists() and (tmp_path / "bob" / "feedback.md").exists()
    assert [r["student_id"] for r in read_gradebook(tmp_path)] == ["alice", "bob"]
    assert len(list(JUnitXml.fromfile(str(tmp_path / "junit.xml")))) == 2
    assert "rendered feedback for 2 submissions" in capsys.readouterr().out


def test_results_without_checks_do_not_claim_success(tmp_path):
    md, _ = feedback(write_submission(tmp_path, tests=[], meta={}, plots=()))
    assert "**Total: 0 / 0 points**" in md and "Every check passed" not in md


@pytest.mark.parametrize("stdout_visibility", [None, "hidden", "after_published"])
def test_student_prints_follow_stdout_visibility(tmp_path, stdout_visibility):
    sub = write_submission(tmp_path, plots=())
    results = json.loads((sub / "results.json").read_text(encoding="utf-8"))
    if stdout_visibility is None:
        del results["stdout_visibility"]
    else:
        results["stdout_visibility"] = stdout_visibility
    (sub / "results.json").write_text(json.dumps(results), encoding="utf-8")
    md, page = feedback(sub)
    for text in (md, page):
        assert "hello from Q1" not in text and "What your code printed" not in text


def test_questions_that_did_not_run(tmp_path):
    meta = sample_meta()
    meta["questions"]["q3_fashion_mnist"].update(source="missing", worker="not run")
    meta["questions"]["q4_numpy_backprop"].update(worker="not run")
    md, _ = feedback(write_submission(tmp_path, meta=meta, plots=()))
    assert "No file for this question was found in your submission, so its checks could not run." in md
    assert md.count("The grader did not run your code for this question, so its checks score 0.") == 1
    assert "| 0 of 1 · not run |" in md and "| 1 of 3 · not run |" in md
