"""Write examples/submissions/: the reference, the stubs and realistic partly-correct submissions.

Each partly-correct submission is the reference with one plausible mistake, applied as an exact text edit that must
match once, so the examples follow the solutions when they change. Run: `python scripts/make_examples.py`.
Expected scores are pinned in tests/test_examples.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from grader import registry

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "submissions"
STEMS = registry.stems()


def ref(stem: str) -> str:
    return (ROOT / "solutions" / f"{stem}.py").read_text(encoding="utf-8")


def edit(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise SystemExit(f"make_examples: expected exactly one {old!r} in the reference")
    return text.replace(old, new)


def strip_markers(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.strip() not in ("# BEGIN SOLUTION", "# END SOLUTION"))


def write(student: str, files: dict[str, str]) -> None:
    d = OUT / student
    d.mkdir(parents=True)
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")


def notebook(cells: list[tuple[str, str]]) -> str:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    # full marks
    write("reference", {f"{s}.py": strip_markers(ref(s)) for s in STEMS})
    # the untouched stubs: zero, no crash
    write("untouched_stubs", {f"{s}.py": (ROOT / "assignments" / f"{s}.py").read_text(encoding="utf-8")
                              for s in STEMS})
    # Q4: backpropagation without the sigmoid derivative, in backward and in the training step
    q4 = strip_markers(ref("q4_numpy_backprop"))
    q4 = edit(q4, "    delta2 = np.dot(delta3, weights[2].T) * (a2 * (1 - a2))\n",
              "    delta2 = np.dot(delta3, weights[2].T)\n")
    q4 = edit(q4, "    delta1 = np.dot(delta2, weights[1].T) * (a1 * (1 - a1))\n",
              "    delta1 = np.dot(delta2, weights[1].T)\n")
    q4 = edit(q4, "    delta2 *= a2 * (1 - a2)\n", "")
    q4 = edit(q4, "    delta1 *= a1 * (1 - a1)\n", "")
    write("missing_sigmoid_derivative", {"q1_expressivity.py": strip_markers(ref("q1_expressivity")),
                                         "q2_softmax_jacobian.py": strip_markers(ref("q2_softmax_jacobian")),
                                         "q4_numpy_backprop.py": q4})
    # Q2: the Jacobian taken as the exponential of the log-softmax derivative
    q2 = strip_markers(ref("q2_softmax_jacobian"))
    q2 = edit(q2, "    return np.diag(y) - np.outer(y, y)\n", "    return np.exp(np.eye(len(y)) - y[None, :])\n")
    q2 = edit(q2, "    return sp.Matrix(n, n, lambda i, j: y[i] * (sp.KroneckerDelta(i, j) - y[j]))\n",
              "    return sp.Matrix(n, n, lambda i, j: sp.exp(sp.KroneckerDelta(i, j) - y[j]))\n")
    write("exp_jacobian", {"q1_expressivity.py": strip_markers(ref("q1_expressivity")), "q2_softmax_jacobian.py": q2})
    # Q1: the box's output weights with the wrong sign
    q1 = edit(strip_markers(ref("q1_expressivity")), '        "W2": np.array([h, -h]),\n',
              '        "W2": np.array([-h, h]),\n')
    write("box_wrong_sign", {"q1_expressivity.py": q1, "q2_softmax_jacobian.py": strip_markers(ref("q2_softmax_jacobian"))})
    # Q4: initial variance 1/n_in instead of 1/max(n_in, n_out)
    q4 = edit(strip_markers(ref("q4_numpy_backprop")),
              "weights = [rng.normal(0, 1 / np.sqrt(max(n_in, n_out)), (n_in, n_out))",
              "weights = [rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out))")
    write("init_fan_in", {"q4_numpy_backprop.py": q4})
    # A notebook-only submission: Q1 right, Q2's Jacobian right but softmax unstable, with a magic and demo code
    q2_body = strip_markers(ref("q2_softmax_jacobian"))
    q2_body = edit(q2_body, "    e = np.exp(z - z.max())\n", "    e = np.exp(z)\n")
    write("notebook_only", {
        "q1_expressivity.ipynb": notebook([
            ("markdown", "# Q1 — my answers"),
            ("code", "%matplotlib inline\nimport matplotlib.pyplot as plt"),
            ("code", strip_markers(ref("q1_expressivity")).split('\n\ndef main(')[0]),
            ("code", "net = box_network(1.0, 0.5)\nxs = np.linspace(-1, 1, 201)\nplt.plot(xs, network_output(net, xs))"),
        ]),
        "q2_softmax_jacobian.ipynb": notebook([
            ("code", q2_body.split('\n\ndef main(')[0]),
            ("code", "print(softmax_jacobian(np.array([1.0, 2.0, 3.0])))"),
        ]),
    })
    print(f"wrote {len(list(OUT.iterdir()))} example submissions to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
