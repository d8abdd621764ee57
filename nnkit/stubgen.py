"""Generate student stubs from reference solutions.

A solution region is the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION``. Inside a function the region
becomes ``raise NotImplementedError`` at the marker's indentation; at module level (a helper only the solution
uses) it is removed. Nested, unclosed or stray markers are hard errors, as in nbgrader.

    python -m nnkit.stubgen solutions assignments        # write the stubs
    python -m nnkit.stubgen solutions assignments --check  # exit 1 if a committed stub is out of date
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)#\s*BEGIN SOLUTION\s*$")
END = re.compile(r"^(?P<indent>[ \t]*)#\s*END SOLUTION\s*$")
ANY_MARKER = re.compile(r"(BEGIN|END) SOLUTION")
STEMS = ("q1_expressivity", "q2_softmax_jacobian", "q3_fashion_mnist", "q4_numpy_backprop")


class MarkerError(ValueError):
    """A solution region is malformed."""


def header(source_name: str) -> str:
    return f"# generated from {source_name} by `make assignments`; do not edit\n"


def strip_solutions(text: str, source_name: str = "<source>") -> str:
    """Return ``text`` with every solution region replaced; raise MarkerError on malformed markers."""
    out: list[str] = []
    open_at: int | None = None
    indent = ""
    for lineno, line in enumerate(text.splitlines(keepends=True), start=1):
        if m := BEGIN.match(line):
            if open_at is not None:
                raise MarkerError(f"{source_name}:{lineno}: nested BEGIN SOLUTION (region opened at line {open_at})")
            open_at, indent = lineno, m["indent"]
            if indent:
                out.append(f"{indent}raise NotImplementedError\n")
            continue
        if m := END.match(line):
            if open_at is None:
                raise MarkerError(f"{source_name}:{lineno}: END SOLUTION without a BEGIN SOLUTION")
            if m["indent"] != indent:
                raise MarkerError(f"{source_name}:{lineno}: END SOLUTION indented differently from its BEGIN "
                                  f"(line {open_at})")
            open_at = None
            continue
        if ANY_MARKER.search(line) and line.lstrip().startswith("#"):
            raise MarkerError(f"{source_name}:{lineno}: malformed solution marker: {line.strip()!r}")
        if open_at is None:
            out.append(line)
    if open_at is not None:
        raise MarkerError(f"{source_name}:{open_at}: BEGIN SOLUTION is never closed")
    stub = "".join(out)
    try:
        ast.parse(stub)
    except SyntaxError as exc:
        raise MarkerError(f"{source_name}: the stub is not valid Python after stripping (line {exc.lineno}): "
                          f"{exc.msg}") from exc
    return stub


def generate(src_dir: Path, dst_dir: Path) -> dict[Path, str]:
    """Map each stub path to its generated text (nothing is written)."""
    stubs = {}
    for stem in STEMS:
        src = src_dir / f"{stem}.py"
        name = f"{src_dir.name}/{src.name}"
        stubs[dst_dir / src.name] = header(name) + strip_solutions(src.read_text(encoding="utf-8"), name)
    return stubs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("solutions", type=Path)
    parser.add_argument("assignments", type=Path)
    parser.add_argument("--check", action="store_true", help="only report stubs that differ; write nothing")
    args = parser.parse_args(argv)
    try:
        stubs = generate(args.solutions, args.assignments)
    except MarkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = [p for p, text in stubs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"out of date: {p} (run `make assignments`)", file=sys.stderr)
        return 1 if stale else 0
    args.assignments.mkdir(parents=True, exist_ok=True)
    for path, text in stubs.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
