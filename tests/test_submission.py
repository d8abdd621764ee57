"""Tests of loading submissions: directories and zips, notebooks, hostile archives and broken files.

Every submission is built in ``tmp_path`` with zipfile and nbformat; nothing here executes the code it loads.
"""

from __future__ import annotations

import ast
import re
import stat
import struct
import sys
import time
import warnings
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader import registry
from grader.intake import submission
from grader.intake.submission import SubmissionError, discover, prepare

STEMS = registry.stems()

Q1 = "import numpy as np\n\n\ndef box_network(h, delta):\n    return {}\n"
Q2 = "def softmax(z):\n    return z\n"


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def _zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name), content)
    return path


def _prepare(tmp_path: Path, source: Path, student_id: str = "alice", **limits):
    work = tmp_path / "work" / student_id
    return prepare(source, student_id, work, **limits)


def _written(prepared) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(prepared.root.iterdir())}


def _deflated_zip(path: Path, name: str, actual: int, declared: int) -> Path:
    """A zip whose one member inflates to ``actual`` zero bytes while its headers claim ``declared``.

    zipfile needs seconds to deflate a gigabyte; deflating one MiB of zeros after a full flush gives a
    byte-aligned block that is the same every time, so repeating it builds the stream in milliseconds.
    """
    mib = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(mib)) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = block * (actual // mib) + compressor.flush()
    crc = 1533330096 if actual == 1 << 30 else zlib.crc32(bytes(actual))  # crc32 of 2**30 zero bytes
    encoded = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), declared, len(encoded), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, 0, 8, 0, 0x21, crc, len(data), declared,
                          len(encoded), 0, 0, 0, 0, 0o100644 << 16, 0)
    directory = central + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(local) + len(encoded) + len(data), 0)
    path.write_bytes(local + encoded + data + directory + end)
    return path


def _notebook(*cells) -> str:
    return nbformat.writes(new_notebook(cells=list(cells)))


TRAINING_NOTEBOOK = _notebook(
    new_markdown_cell("# Fashion-MNIST"),
    new_code_cell("%matplotlib inline\nimport numpy as np\nimport keras\n!pip install keras"),
    new_code_cell("CLASS_NAMES = ['T-shirt', 'Trouser']\nLEARNING_RATE = 1e-3\n\n\n"
                  "def build_model():\n    %time x = 1\n    return keras.Sequential()\n\n\n"
                  "def train_model(model, x_train, y_train):\n    return model.fit(x_train, y_train).history\n"),
    new_code_cell("(x_train, y_train), _ = keras.datasets.fashion_mnist.load_data()\nx_train = x_train / 255.0\n"
                  "model = build_model()\ntrain_model(model, x_train, y_train)",
                  outputs=[new_output("stream", name="stdout", text="STORED_OUTPUT accuracy 0.89")],
                  execution_count=7),
    new_markdown_cell("Dropout regularises the network.", metadata={"tags": ["answer-q3-dropout"]}),
    new_code_cell("%%time\ndef never_kept():\n    pass"),
)


def test_module_only_is_copied_as_is(tmp_path):
    """A lone module is graded as written and the other questions are reported missing."""
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q1_expressivity.py": Q1}))
    assert prepared.sources == {"q1_expressivity": "module", "q2_softmax_jacobian": "missing",
                                "q3_fashion_mnist": "missing", "q4_numpy_backprop": "missing"}
    assert prepared.errors == {}
    assert prepared.root == tmp_path / "work" / "alice" / "submission"
    assert _written(prepared) == {"q1_expressivity.py": Q1}
    assert stat.S_IMODE((prepared.root / "q1_expressivity.py").stat().st_mode) == 0o644
    assert set(prepared.notes) == set(prepared.markdown) == set(STEMS)


def test_module_bom_is_stripped(tmp_path):
    """A UTF-8 byte-order mark is accepted and removed."""
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q2_softmax_jacobian.py": b"\xef\xbb\xbf" + Q2.encode()}))
    assert prepared.sources["q2_softmax_jacobian"] == "module"
    assert (prepared.root / "q2_softmax_jacobian.py").read_bytes() == Q2.encode()


def test_notebook_keeps_only_definitions(tmp_path):
    """A notebook becomes a module of its imports, definitions and constants, and every removal is reported."""
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q3_fashion_mnist.ipynb": TRAINING_NOTEBOOK}))
    assert prepared.sources["q3_fashion_mnist"] == "notebook", prepared.errors
    code = _written(prepared)["q3_fashion_mnist.py"]
    notes = "\n".join(prepared.notes["q3_fashion_mnist"])

    assert "cell 2, line 1: removed IPython magic `%matplotlib inline`" in notes
    assert "cell 2, line 4: removed shell command `!pip install keras`" in notes
    assert "cell 3, line 6: removed IPython magic `%time x = 1`" in notes
    assert "cell 6: removed cell magic `%%time`" in notes
    assert "cell 4: top-level code not run by the grader" in notes
    assert "`model = build_model()`" in notes and "`train_model(model, x_train, y_train)`" in notes
    assert "`x_train = x_train / 255.0` (uses x_train" in notes, "a constant computed from skipped code must go too"

    assert "CLASS_NAMES = ['T-shirt', 'Trouser']" in code and "LEARNING_RATE = 1e-3" in code
    assert "def build_model():" in code and "def train_model(model, x_train, y_train):" in code
    assert "# cell 3, line 1" in code
    for gone in ("%", "!pip", "load_data", "x_train / 255.0", "STORED_OUTPUT", "never_kept", "get_ipython"):
        assert gone not in code, f"{gone!r} survived in the generated module:\n{code}"
    tree = ast.parse(code)
    kinds = {type(node).__name__ for node in tree.body}
    assert kinds <= {"Import", "ImportFrom", "FunctionDef", "Assign"}, kinds

    assert prepared.markdown["q3_fashion_mnist"] == [
        {"tags": [], "source": "# Fashion-MNIST", "index": 1},
        {"tags": ["answer-q3-dropout"], "source": "Dropout regularises the network.", "index": 5},
    ]


def test_notebook_line_sharing_and_try_imports(tmp_path):
    """Statements sharing a line are split, try/except imports are kept and ``__future__`` imports go first."""
    notebook = _notebook(
        new_code_cell("import os; os.system('rm -rf /')\nSEED = 0"),
        new_code_cell("from __future__ import annotations\ntry:\n    import keras\nexcept ImportError:\n"
                      "    keras = None\nif __name__ == '__main__':\n    main()\nsquare = lambda z: z * z"),
    )
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q4_numpy_backprop.ipynb": notebook}))
    code = _written(prepared)["q4_numpy_backprop.py"]
    assert "os.system" not in code and "import os\nSEED = 0" in code
    assert "except ImportError:" in code and "square = lambda z: z * z" in code
    assert "__main__" not in code
    assert [type(node).__name__ for node in ast.parse(code).body][0] == "ImportFrom"
    assert "line 6 `if __name__ == '__main__':`" in "\n".join(prepared.notes["q4_numpy_backprop"])


def test_both_files_module_wins(tmp_path):
    """With both a module and a notebook the module is graded; the notebook still supplies Markdown answers."""
    notebook = _notebook(new_markdown_cell("my answer", metadata={"tags": ["answer"]}),
                         new_code_cell("def softmax(z):\n    return -z"))
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q2_softmax_jacobian.py": Q2,
                                                              "q2_softmax_jacobian.ipynb": notebook}))
    assert prepared.sources["q2_softmax_jacobian"] == "module"
    assert _written(prepared) == {"q2_softmax_jacobian.py": Q2}
    assert any("found both q2_softmax_jacobian.py and q2_softmax_jacobian.ipynb: graded the .py module" in note
               for note in prepared.notes["q2_softmax_jacobian"])
    assert prepared.markdown["q2_softmax_jacobian"] == [{"tags": ["answer"], "source": "my answer", "index": 1}]


def test_zip_with_wrapping_folder(tmp_path):
    """A zip whose files sit in one folder is graded; macOS litter is ignored silently."""
    archive = _zip(tmp_path / "alice.zip", {"hw1/": "", "hw1/q1_expressivity.py": Q1,
                                            "hw1/q3_fashion_mnist.ipynb": TRAINING_NOTEBOOK,
                                            "hw1/notes.txt": "todo", "__MACOSX/hw1/._q1_expressivity.py": "junk",
                                            "hw1/.DS_Store": "junk"})
    prepared = _prepare(tmp_path, archive)
    assert prepared.sources["q1_expressivity"] == "module" and prepared.sources["q3_fashion_mnist"] == "notebook"
    assert sorted(_written(prepared)) == ["q1_expressivity.py", "q3_fashion_mnist.py"]
    assert prepared.general == ["ignored 1 other file: hw1/notes.txt — only the question files are graded"]


def test_zip_unsafe_paths_are_skipped(tmp_path):
    """Absolute and ``..`` members are skipped and reported; nothing lands outside the work directory."""
    archive = _zip(tmp_path / "alice.zip", {"../evil.py": "x", "/abs.py": "x", "../q1_expressivity.py": "x",
                                            "a/../../evil2.py": "x", "q2_softmax_jacobian.py": Q2})
    prepared = _prepare(tmp_path, archive)
    assert prepared.sources["q2_softmax_jacobian"] == "module"
    assert prepared.sources["q1_expressivity"] == "missing"
    [note] = [note for note in prepared.general if note.startswith("skipped unsafe zip entries")]
    for name in ("../evil.py (path leaves the archive)", "/abs.py (absolute path)", "a/../../evil2.py"):
        assert name in note
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["alice.zip", "work/alice/submission/q2_softmax_jacobian.py"]


def test_zip_symlink_members_are_skipped(tmp_path):
    """Members stored as symbolic links are never read: reported generally, or as the question's error."""
    archive = tmp_path / "alice.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name in ("link.py", "q1_expressivity.py"):
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            out.writestr(info, "/etc/passwd")
        out.writestr("q2_softmax_jacobian.py", Q2)
    prepared = _prepare(tmp_path, archive)
    assert "symbolic link" in prepared.errors["q1_expressivity"]
    assert prepared.sources == {"q1_expressivity": "unreadable", "q2_softmax_jacobian": "module",
                                "q3_fashion_mnist": "missing", "q4_numpy_backprop": "missing"}
    assert any("link.py" in note and "symbolic link" in note for note in prepared.general)
    assert _written(prepared) == {"q2_softmax_jacobian.py": Q2}


def test_zip_bomb_stops_at_declared_size(tmp_path):
    """A member that inflates to 1 GB is refused from its header, without decompressing it."""
    archive = _deflated_zip(tmp_path / "alice.zip", "q3_fashion_mnist.py", 1 << 30, 1 << 30)
    assert archive.stat().st_size < 2 << 20
    started = time.monotonic()
    prepared = _prepare(tmp_path, archive)
    assert time.monotonic() - started < 5
    assert prepared.errors["q3_fashion_mnist"] == "q3_fashion_mnist.py is 1 GB uncompressed; the limit is 2 MB"
    assert list(prepared.root.iterdir()) == []


def test_zip_bomb_with_lying_header_stops_early(tmp_path):
    """A member whose header claims 1 KB but inflates to 1 GB is cut off and reported, not inflated."""
    archive = _deflated_zip(tmp_path / "alice.zip", "q3_fashion_mnist.py", 1 << 30, 1 << 10)
    started = time.monotonic()
    prepared = _prepare(tmp_path, archive)
    assert time.monotonic() - started < 5
    assert prepared.errors["q3_fashion_mnist"].startswith("q3_fashion_mnist.py cannot be decompressed")


def test_read_capped_stops_at_the_limit():
    """The byte counter behind every read stops one byte past the limit, even on an endless stream."""
    class Endless:
        handed_out = 0

        def read(self, n):
            self.handed_out += n
            return bytes(n)

    endless = Endless()
    assert submission._read_capped(endless, 1 << 20) is None
    assert endless.handed_out == (1 << 20) + 1
    with open(__file__, "rb") as small:
        assert submission._read_capped(small, 1 << 20) == Path(__file__).read_bytes()


@pytest.mark.parametrize("content", [b"this is not a zip", b"PK\x03\x04" + bytes(100)], ids=["text", "truncated"])
def test_corrupt_zip_is_a_submission_error(tmp_path, content):
    """A .zip that cannot be opened makes the whole submission ungradable, with the reason."""
    archive = tmp_path / "alice.zip"
    archive.write_bytes(content)
    with pytest.raises(SubmissionError, match=r"alice\.zip is not a readable zip archive"):
        _prepare(tmp_path, archive)


def test_truncated_zip_is_a_submission_error(tmp_path):
    """A zip cut short loses its central directory and is reported as unreadable."""
    archive = _zip(tmp_path / "alice.zip", {"q1_expressivity.py": Q1 * 100})
    archive.write_bytes(archive.read_bytes()[:-30])
    with pytest.raises(SubmissionError, match="not a readable zip archive"):
        _prepare(tmp_path, archive)


def test_zip_member_count_is_capped(tmp_path):
    """A zip with more entries than the cap is refused before anything is read."""
    archive = _zip(tmp_path / "alice.zip", {f"data/{i}.txt": "" for i in range(30)})
    with pytest.raises(SubmissionError, match="holds 30 entries; the limit is 20"):
        _prepare(tmp_path, archive, max_members=20)


def test_non_utf8_module_names_the_position(tmp_path):
    """A module that is not UTF-8 is an error naming the first bad byte; other questions are unaffected."""
    source = "# comment\nx = 'caf\xe9'\n".encode("latin-1")
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q1_expressivity.py": source,
                                                              "q2_softmax_jacobian.py": Q2}))
    assert prepared.errors["q1_expressivity"] == ("q1_expressivity.py is not UTF-8: byte 0xe9 at offset 18 (line 2) "
                                                  "cannot be decoded; save the file as UTF-8")
    assert prepared.sources["q1_expressivity"] == "unreadable"
    assert prepared.sources["q2_softmax_jacobian"] == "module"
    assert _written(prepared) == {"q2_softmax_jacobian.py": Q2}


def test_syntax_error_names_line_and_text(tmp_path):
    """A syntax error is reported with its line, column and the offending line, without running anything."""
    source = "\n" * 11 + "def jacobian(J, i, j):\n    return J[i j]\n"
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q2_softmax_jacobian.py": source}))
    message = prepared.errors["q2_softmax_jacobian"]
    assert message.startswith("syntax error in q2_softmax_jacobian.py line 13, column 14: invalid syntax")
    assert "\n    return J[i j]\n" in message and message.endswith("^^^")


def test_student_code_is_never_run(tmp_path):
    """Neither a module nor a notebook is executed while it is prepared."""
    marker = tmp_path / "ran"
    payload = f"open({str(marker)!r}, 'w').close()\n"
    notebook = _notebook(new_code_cell(payload), new_code_cell(f"X = [1]\n{payload}"))
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q1_expressivity.py": payload,
                                                              "q2_softmax_jacobian.ipynb": notebook}))
    assert prepared.sources["q1_expressivity"] == "module"
    assert prepared.sources["q2_softmax_jacobian"] == "notebook"
    assert not marker.exists()


@pytest.mark.parametrize("content, expected", [
    (TRAINING_NOTEBOOK[:len(TRAINING_NOTEBOOK) // 2],
     r"q3_fashion_mnist\.ipynb is not valid notebook JSON: .* at line \d+, column \d+ \(character \d+ of \d+\)"),
    ("", r"is not valid notebook JSON: Expecting value at line 1, column 1"),
    ('{"cells": []}', r'is JSON but not a Jupyter notebook \(it has no "nbformat" field\)'),
    ("[1, 2]", r"is JSON but not a Jupyter notebook"),
], ids=["truncated", "empty", "no-nbformat", "list"])
def test_broken_notebook_is_a_clear_error(tmp_path, content, expected):
    """A truncated or non-notebook .ipynb is an error for that question that says what is wrong and where."""
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q3_fashion_mnist.ipynb": content,
                                                              "q1_expressivity.py": Q1}))
    assert prepared.sources["q3_fashion_mnist"] == "unreadable"
    assert re.search(expected, prepared.errors["q3_fashion_mnist"]), prepared.errors["q3_fashion_mnist"]
    assert prepared.sources["q1_expressivity"] == "module"


def test_notebook_cell_syntax_error_names_the_cell(tmp_path):
    """A code cell that does not parse is an error naming the cell and its line."""
    notebook = _notebook(new_markdown_cell("intro"), new_code_cell("import numpy as np"),
                         new_code_cell("%matplotlib inline\ndef forward(x):\n    return x +\n"))
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q4_numpy_backprop.ipynb": notebook}))
    message = prepared.errors["q4_numpy_backprop"]
    assert message.startswith("syntax error in q4_numpy_backprop.ipynb cell 3 line 3"), message
    assert "return x +" in message


def test_empty_submission_reports_missing(tmp_path):
    """An empty submission is not an exception: every question is missing and the student is told why."""
    folder = tmp_path / "alice"
    folder.mkdir()
    prepared = _prepare(tmp_path, folder)
    assert prepared.sources == dict.fromkeys(STEMS, "missing")
    assert prepared.errors == {}
    assert prepared.general == ["no question files found (expected q1_expressivity.py … q4_numpy_backprop.py or the "
                                "same names with .ipynb)"]
    assert list(prepared.root.iterdir()) == []


def test_huge_file_is_not_read(tmp_path):
    """A 3 GB module is refused from its size alone."""
    folder = _tree(tmp_path / "alice", {"q1_expressivity.py": Q1})
    with open(folder / "q3_fashion_mnist.py", "wb") as f:
        f.truncate(3 << 30)  # sparse: no disk space, no time
    prepared = _prepare(tmp_path, folder)
    assert prepared.errors == {"q3_fashion_mnist": "q3_fashion_mnist.py is 3 GB; the limit is 2 MB"}
    assert prepared.sources["q1_expressivity"] == "module"


def test_shadowing_files_are_ignored(tmp_path):
    """Files that could shadow modules or hook the interpreter are never copied, and are listed."""
    folder = _tree(tmp_path / "alice", {"q1_expressivity.py": Q1, "numpy.py": "raise SystemExit",
                                        "conftest.py": "x", "sitecustomize.py": "x", "x.pth": "import os",
                                        "keras/__init__.py": "x"})
    prepared = _prepare(tmp_path, folder)
    assert _written(prepared) == {"q1_expressivity.py": Q1}
    assert prepared.general == ["ignored 5 other files: conftest.py, keras/__init__.py, numpy.py, sitecustomize.py, "
                                "x.pth — only the question files are graded"]


def test_directory_symlinks_are_not_followed(tmp_path):
    """A question file that is a symbolic link is an error; other links are reported; neither is read."""
    secret = _tree(tmp_path / "outside", {"secret.py": "TOKEN = 'x'\n"}) / "secret.py"
    folder = _tree(tmp_path / "alice", {"q2_softmax_jacobian.py": Q2})
    (folder / "q1_expressivity.py").symlink_to(secret)
    (folder / "helpers.py").symlink_to(secret)
    prepared = _prepare(tmp_path, folder)
    assert "q1_expressivity.py is a symbolic link" in prepared.errors["q1_expressivity"]
    assert any("helpers.py" in note and "symbolic link" in note for note in prepared.general)
    assert _written(prepared) == {"q2_softmax_jacobian.py": Q2}


def test_misnamed_file_gets_a_hint(tmp_path):
    """A question file with the wrong name or place is not graded, and the missing question says why."""
    folder = _tree(tmp_path / "alice", {"Q1_Expressivity.py": Q1, "q2_softmax_jacobian.py": Q2})
    prepared = _prepare(tmp_path, folder)
    assert prepared.sources["q1_expressivity"] == "missing"
    [note] = prepared.notes["q1_expressivity"]
    assert "ignored Q1_Expressivity.py" in note and "named exactly q1_expressivity.py" in note


def test_several_wrapping_folders_are_refused(tmp_path):
    """Question files spread over two folders are ambiguous, so none is graded and the student is told."""
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"a/q1_expressivity.py": Q1, "b/q1_expressivity.py": Q1}))
    assert prepared.sources == dict.fromkeys(STEMS, "missing")
    assert prepared.general[0].startswith("question files are in several folders (a/, b/)")


def test_digest_follows_content_only(tmp_path):
    """Equal content gives an equal digest whatever the packaging; a change to any graded byte changes it."""
    def digest(name, files, zipped=False):
        root = tmp_path / "in" / name
        source = _zip(root.with_suffix(".zip"), files) if zipped else _tree(root, files)
        return _prepare(tmp_path, source, name).digest

    files = {"q1_expressivity.py": Q1, "q3_fashion_mnist.ipynb": TRAINING_NOTEBOOK}
    first = digest("a", files)
    assert len(first) == 64
    assert digest("b", files) == first
    assert digest("c", {f"hw/{name}": content for name, content in files.items()}, zipped=True) == first
    assert digest("d", {**files, "notes.txt": "ignored"}) == first
    assert digest("e", {**files, "q1_expressivity.py": Q1 + "# changed\n"}) != first
    broken = digest("f", {"q1_expressivity.py": "def f(:\n"})
    assert digest("g", {"q1_expressivity.py": "def g(:\n"}) != broken


def test_discover_lists_directories_and_zips(tmp_path):
    """Every folder and .zip is a student; other files, links and hidden entries are left out."""
    _tree(tmp_path, {"bob/q1_expressivity.py": Q1, "notes.txt": "x", ".hidden/x": "x"})
    _zip(tmp_path / "alice.zip", {"q1_expressivity.py": Q1})
    _zip(tmp_path / "bob.zip", {"q1_expressivity.py": Q1})
    (tmp_path / "carol").symlink_to(tmp_path / "bob")
    found = discover(tmp_path)
    assert list(found) == [("alice", tmp_path / "alice.zip"), ("bob", tmp_path / "bob")]
    assert found.skipped == ["bob.zip: skipped, bob/ already holds student 'bob'",
                             "carol: skipped, it is a symbolic link (not followed)",
                             "notes.txt: skipped, it is neither a directory nor a .zip file"]


def test_work_dir_must_be_fresh(tmp_path):
    """Preparing twice into the same work directory is refused instead of mixing two submissions."""
    folder = _tree(tmp_path / "alice", {"q1_expressivity.py": Q1})
    _prepare(tmp_path, folder)
    with pytest.raises(FileExistsError):
        _prepare(tmp_path, folder)



def test_compiler_warnings_become_notes(tmp_path):
    """What the compiler warns about (an invalid escape, ``is`` with a literal) is passed on to the student."""
    source = "PATTERN = '\\d+'\n\n\ndef is_one(x):\n    return x is 1\n"
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q1_expressivity.py": source}))
    notes = prepared.notes["q1_expressivity"]
    assert prepared.sources["q1_expressivity"] == "module"
    assert any(note.startswith("q1_expressivity.py line 1:") and "invalid escape sequence" in note for note in notes)
    assert any(note.startswith("q1_expressivity.py line 5:") and '"is" with a literal' in note for note in notes)


def test_notebook_code_is_capped(tmp_path):
    """A notebook may be large because of its outputs, but the code in it is held to the module limit."""
    notebook = _notebook(new_code_cell("X = 1\n" * 2000))
    prepared = _prepare(tmp_path, _tree(tmp_path / "alice", {"q4_numpy_backprop.ipynb": notebook}),
                        max_file_bytes=10_000)
    assert prepared.errors == {"q4_numpy_backprop": "the code cells of q4_numpy_backprop.ipynb hold 11.7 KB of code; "
                                                    "the limit is 9.8 KB"}


def test_threads_keep_their_own_notes(tmp_path):
    """Prepared side by side in threads, as the command line does, each submission gets only its own warnings."""
    def one(i):
        source = "\n" * i + "PATTERN = '\\d'\n"
        folder = _tree(tmp_path / f"s{i}", {"q1_expressivity.py": source, "q3_fashion_mnist.ipynb": TRAINING_NOTEBOOK})
        return i, _prepare(tmp_path, folder, f"s{i}")

    filters, interval = list(warnings.filters), sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so that races show
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, range(60)))
    finally:
        sys.setswitchinterval(interval)
    for i, prepared in results:
        [note] = prepared.notes["q1_expressivity"]
        assert note.startswith(f"q1_expressivity.py line {i + 1}: "), (i, note)
    assert warnings.filters == filters, "the process-wide warning filters must be left as they were"
