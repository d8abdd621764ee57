"""``nnkit``: the kit's one command line; each subcommand is a Make target (``make grade`` runs ``nnkit grade``).

    nnkit grade --submissions DIR --out DIR [-j N] ...   grade a class
    nnkit check [DIR] [--question q2] [--full]           the visible checks on a student's work
    nnkit submit [DIR] [--out ZIP] [--anyway]            pre-flight a student's work, then pack submission.zip
    nnkit merge --out DIR SHARD_DIR ...                  combine the outputs of sharded grading runs
    nnkit release [--out ZIP]                            the student bundle
    nnkit gradescope build|run                           the Gradescope autograder
    nnkit assignments [SOLUTIONS ASSIGNMENTS]            generate the stubs and notebooks from the solutions
    nnkit classroom [--write]                            the GitHub Classroom workflow, one step per question
    nnkit data                                           find, verify and cache the datasets
    nnkit written OUT [--manual-scores CSV]              rebuild the written-answer pages of a grading output
    nnkit questions                                      list the questions the registry found, and what they lack

``nnkit <command> --help`` gives each command's options. Commands are imported only when run, so ``nnkit check``
works in the student bundle, which has none of the instructor's commands.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module whose main(argv) runs it, one line for the help)
COMMANDS = {
    "grade": ("grader.shipping.grade", "grade every submission in a folder into OUT"),
    "check": ("grader.shipping.local", "run the visible checks on a student's work, as the grader does"),
    "submit": ("nnkit.submit", "pre-flight a student's work and pack it into submission.zip"),
    "merge": ("grader.shipping.merge", "combine the outputs of sharded grading runs"),
    "release": ("grader.shipping.release", "write the student bundle (no solutions, no hidden checks)"),
    "gradescope": ("grader.shipping.gradescope", "build the Gradescope autograder zip, or grade inside Gradescope"),
    "assignments": ("nnkit.stubgen", "generate the stubs and student notebooks from solutions/"),
    "classroom": ("grader.shipping.classroom", "print (or --write) the GitHub Classroom workflow for the questions"),
    "data": ("nnkit.data", "find, verify and cache MNIST and Fashion-MNIST"),
    "written": ("grader.reporting.written", "rebuild the written-answer pages of a grading output"),
    "export": ("grader.reporting.export", "export grades for Canvas or Gradescope, or release each student's feedback"),
    "questions": ("grader.shipping.cli", "list the questions and what each folder lacks"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "usage: nnkit <command> [options]\n\ncommands:\n" + "\n".join(lines) + \
        "\n\n`nnkit <command> --help` shows a command's options."


def list_questions(argv: list[str]) -> int:
    from grader import registry

    for q in registry.questions():
        parts = ", ".join(p for p in q.parts if p != q.label)
        print(f"{q.label:<4} {q.stem:<24} {q.title}" + (f"  (parts {parts})" if parts else ""))
    problems = registry.problems()
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"nnkit: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if name == "questions":
        return list_questions(rest)
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"nnkit: `{name}` is not part of this copy of the kit (it lacks {module_name})", file=sys.stderr)
            return 2
        raise
    sys.argv[0] = f"nnkit {name}"
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
